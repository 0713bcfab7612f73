//! Black-box tests of `--push.enable-utf8-names`: quoted names in text bodies, UTF-8 names in
//! protobuf bodies, `U__` escaped label names in the URL, the quoted exposition, the escapings
//! a scraper can ask for in every format, and that without the flag all of them are refused as
//! before.
//!
//! No differential part: the reference installed here (upstream v1.5.1) predates the flag.

use crate::util::{self, Response, Server, Target};

const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

fn start(utf8: bool) -> Server {
    let flags: &[&str] = if utf8 {
        &["--push.enable-utf8-names"]
    } else {
        &[]
    };
    Server::start(Target::Pushgate, flags)
}

fn put(s: &Server, path: &str, body: &str) -> Response {
    s.request("PUT", path, &[], body.as_bytes())
}

/// The exposition with names as they are: what a scraper asks for with `escaping=allow-utf-8`.
fn scrape(s: &Server) -> String {
    scrape_as(s, "text/plain;version=0.0.4;escaping=allow-utf-8").text()
}

fn scrape_as(s: &Server, accept: &str) -> Response {
    let r = s.request("GET", "/metrics", &[("Accept", accept)], b"");
    assert_eq!(r.status, 200, "{accept}");
    r
}

/// `body` must be answered 200, and every line of `want` must then be in the exposition.
fn push_and_see(s: &Server, path: &str, body: &str, want: &[&str]) {
    let r = put(s, path, body);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let text = scrape(s);
    for line in want {
        assert!(
            text.lines().any(|l| l == *line),
            "{line:?} missing from:\n{text}"
        );
    }
}

/// One delimited `MetricFamily` message: a gauge with one series of the given labels.
fn protobuf_gauge(name: &str, labels: &[(&str, &str)], value: f64) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
        out.push(tag);
        out.push(u8::try_from(bytes.len()).expect("short test field"));
        out.extend_from_slice(bytes);
    }
    let mut metric = Vec::new();
    for (n, v) in labels {
        let mut pair = Vec::new();
        field(&mut pair, 0x0a, n.as_bytes());
        field(&mut pair, 0x12, v.as_bytes());
        field(&mut metric, 0x0a, &pair);
    }
    let mut gauge = vec![0x09];
    gauge.extend_from_slice(&value.to_le_bytes());
    field(&mut metric, 0x12, &gauge);
    let mut family = Vec::new();
    field(&mut family, 0x0a, name.as_bytes());
    family.extend_from_slice(&[0x18, 0x01]);
    field(&mut family, 0x22, &metric);
    // One length byte: the varint prefix of a message shorter than 128 bytes.
    let mut body = vec![u8::try_from(family.len()).expect("short test message")];
    assert!(body[0] < 0x80);
    body.extend_from_slice(&family);
    body
}

#[test]
fn quoted_names_in_text_bodies_come_back_quoted() {
    let s = start(true);
    push_and_see(
        &s,
        "/metrics/job/j",
        "# HELP \"my.metric\" A gauge with dots.\n\
         # TYPE \"my.metric\" gauge\n\
         {\"my.metric\", label=\"x\"} 1\n\
         # TYPE my_metric counter\n\
         my_metric{\"label.with.dots\"=\"v\"} 2\n\
         # TYPE \"hist.seconds\" histogram\n\
         {\"hist.seconds_bucket\",le=\"1\"} 1\n\
         {\"hist.seconds_sum\"} 0.5\n\
         {\"hist.seconds_count\"} 1\n",
        &[
            "# HELP \"my.metric\" A gauge with dots.",
            "# TYPE \"my.metric\" gauge",
            "{\"my.metric\",instance=\"\",job=\"j\",label=\"x\"} 1",
            "# TYPE my_metric counter",
            "my_metric{instance=\"\",job=\"j\",\"label.with.dots\"=\"v\"} 2",
            "# TYPE \"hist.seconds\" histogram",
            "{\"hist.seconds_bucket\",instance=\"\",job=\"j\",le=\"1\"} 1",
            "{\"hist.seconds_bucket\",instance=\"\",job=\"j\",le=\"+Inf\"} 1",
            "{\"hist.seconds_sum\",instance=\"\",job=\"j\"} 0.5",
            "{\"hist.seconds_count\",instance=\"\",job=\"j\"} 1",
        ],
    );
    // The JSON API reads the quoted lines back into plain names.
    let api = s.get("/api/v1/metrics").text();
    for want in [
        r#""labels":{"instance":"","job":"j","label":"x"},"value":"1""#,
        r#""labels":{"instance":"","job":"j","label.with.dots":"v"},"value":"2""#,
        r#""buckets":{"+Inf":"1","1":"1"},"count":"1""#,
    ] {
        assert!(api.contains(want), "{want} missing from {api}");
    }
    // Legacy bodies are unaffected by the flag.
    push_and_see(
        &s,
        "/metrics/job/k",
        "plain{a=\"b\"} 3\n",
        &["plain{a=\"b\",instance=\"\",job=\"k\"} 3"],
    );
}

#[test]
fn escaped_and_plain_utf8_label_names_in_the_url() {
    let s = start(true);
    push_and_see(
        &s,
        "/metrics/job/j/U__a_2e_b/v",
        "x 1\n",
        &[
            "x{\"a.b\"=\"v\",instance=\"\",job=\"j\"} 1",
            "push_failure_time_seconds{\"a.b\"=\"v\",instance=\"\",job=\"j\"} 0",
        ],
    );
    push_and_see(
        &s,
        "/metrics/job/j/c.d@base64/dw",
        "y 2\n",
        &["y{\"c.d\"=\"w\",instance=\"\",job=\"j\"} 2"],
    );
    // The escaped and the plain spelling name the same group.
    assert_eq!(
        s.request("DELETE", "/metrics/job/j/a.b/v", &[], b"").status,
        202
    );
    let text = scrape(&s);
    assert!(!text.contains("\"a.b\"=\"v\""), "{text}");
    assert!(text.contains("y{\"c.d\"=\"w\",instance=\"\",job=\"j\"} 2\n"));
    for (path, reason) in [
        ("/metrics/job/j/U__/v", "improper label name"),
        ("/metrics/job/j/U__job/v", "repeated label name"),
        ("/metrics/job/j/U_____5f_x/v", "improper label name"),
    ] {
        let r = put(&s, path, "x 1\n");
        assert_eq!(r.status, 400, "{path}");
        assert!(r.text().contains(reason), "{path}: {}", r.text());
    }
}

#[test]
fn protobuf_pushes_with_utf8_names() {
    let s = start(true);
    let body = protobuf_gauge("proto.metric", &[("a.b", "v")], 1.5);
    let r = s.request(
        "PUT",
        "/metrics/job/p",
        &[("Content-Type", PROTOBUF)],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = scrape(&s);
    assert!(
        text.contains("# TYPE \"proto.metric\" gauge\n{\"proto.metric\",\"a.b\"=\"v\",instance=\"\",job=\"p\"} 1.5\n"),
        "{text}"
    );
}

#[test]
fn consistency_check_sees_quoted_names() {
    let s = start(true);
    let r = put(&s, "/metrics/job/a", "{\"x.y\",\"k.k\"=\"1\"} 1\n");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = put(&s, "/metrics/job/a/U__k_2e_k/1", "{\"x.y\"} 2\n");
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("was collected before with the same name"),
        "{}",
        r.text()
    );
    let r = put(
        &s,
        "/metrics/job/b",
        "# TYPE \"x.y\" counter\n{\"x.y\"} 1\n",
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("} is not a UNTYPED"), "{}", r.text());
    let r = put(
        &s,
        "/metrics/job/c",
        "{\"x.y_count\"} 1\n# TYPE \"x.y\" summary\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = put(
        &s,
        "/metrics/job/d",
        "# TYPE \"h.h\" histogram\n{\"h.h_sum\"} 1\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = put(&s, "/metrics/job/e", "{\"h.h_bucket\"} 1\n");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("collides"), "{}", r.text());
}

#[test]
fn without_the_flag_utf8_names_are_refused() {
    let s = start(false);
    for (path, body, reason) in [
        (
            "/metrics/job/j",
            "{\"my.metric\"} 1\n",
            "text format parsing error in line 1: invalid metric name",
        ),
        (
            "/metrics/job/j",
            "my_metric{\"a.b\"=\"v\"} 1\n",
            "invalid label name for metric \"my_metric\"",
        ),
        (
            "/metrics/job/j",
            "# TYPE \"my.metric\" gauge\n",
            "invalid metric name in comment",
        ),
        (
            "/metrics/job/j/a.b/v",
            "x 1\n",
            "improper label name \"a.b\"",
        ),
    ] {
        let r = put(&s, path, body);
        assert_eq!(r.status, 400, "{path} {body:?}");
        assert!(r.text().contains(reason), "{path} {body:?}: {}", r.text());
    }
    let body = protobuf_gauge("proto.metric", &[], 1.0);
    let r = s.request(
        "PUT",
        "/metrics/job/p",
        &[("Content-Type", PROTOBUF)],
        &body,
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("invalid metric name"), "{}", r.text());
    // A `U__` name is an ordinary legacy name without the flag.
    push_and_see(
        &s,
        "/metrics/job/j/U__a_2e_b/v",
        "x 1\n",
        &["x{U__a_2e_b=\"v\",instance=\"\",job=\"j\"} 1"],
    );
}

#[test]
fn scrapers_get_names_escaped_as_they_ask() {
    let s = start(true);
    let r = put(
        &s,
        "/metrics/job/j/U__zone_2e_name/eu",
        "# TYPE \"my.metric\" gauge\n{\"my.metric\",\"a.b\"=\"x\"} 1\nplain 2\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = |accept: &str, want_type: &str, want: &[&str]| {
        let r = scrape_as(&s, accept);
        assert_eq!(r.header("content-type"), Some(want_type), "{accept}");
        let body = r.text();
        for line in want {
            assert!(
                body.lines().any(|l| l == *line),
                "{accept}: no {line} in\n{body}"
            );
        }
    };
    let series = "{a_b=\"x\",instance=\"\",job=\"j\",zone_name=\"eu\"}";
    // No escaping asked for: underscores, as upstream serves legacy scrapers.
    text(
        "text/plain",
        "text/plain; version=0.0.4; charset=utf-8",
        &[
            "# TYPE my_metric gauge",
            &format!("my_metric{series} 1"),
            "plain{instance=\"\",job=\"j\",zone_name=\"eu\"} 2",
            "push_failure_time_seconds{instance=\"\",job=\"j\",zone_name=\"eu\"} 0",
        ],
    );
    text(
        "text/plain;version=0.0.4;escaping=values",
        "text/plain; version=0.0.4; charset=utf-8; escaping=values",
        &["U__my_2e_metric{U__a_2e_b=\"x\",instance=\"\",job=\"j\",U__zone_2e_name=\"eu\"} 1"],
    );
    text(
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
        &[
            "# TYPE \"my.metric\" gauge",
            "{\"my.metric\",\"a.b\"=\"x\",instance=\"\",job=\"j\",\"zone.name\"=\"eu\"} 1.0",
            "# EOF",
        ],
    );
    text(
        "application/openmetrics-text;version=1.0.0;escaping=dots",
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=dots",
        &["my_dot_metric{a_dot_b=\"x\",instance=\"\",job=\"j\",zone_dot_name=\"eu\"} 1.0"],
    );
    if !util::require_python_module("google.protobuf") {
        return;
    }
    let proto = |escaping: &str| {
        let accept = format!("{PROTOBUF}; escaping={escaping}");
        let body = scrape_as(&s, &accept).body;
        String::from_utf8(util::proto_helper(&["decode", "--lines"], &body)).unwrap()
    };
    let utf8 = proto("allow-utf-8");
    assert!(utf8.contains("\"name\": \"my.metric\""), "{utf8}");
    assert!(utf8.contains("\"name\": \"zone.name\""), "{utf8}");
    let escaped = proto("underscores");
    assert!(escaped.contains("\"name\": \"my_metric\""), "{escaped}");
    assert!(escaped.contains("\"name\": \"zone_name\""), "{escaped}");
    assert!(!escaped.contains("zone.name"), "{escaped}");
}

#[test]
fn escaping_keeps_histogram_and_summary_suffixes() {
    let s = start(true);
    let r = put(
        &s,
        "/metrics/job/j",
        "# TYPE \"my.hist\" histogram\n{\"my.hist_bucket\",le=\"1\"} 2\n\
         {\"my.hist_bucket\",le=\"+Inf\"} 3\n{\"my.hist_sum\"} 4\n{\"my.hist_count\"} 3\n\
         # TYPE \"my.sum\" summary\n{\"my.sum\",quantile=\"0.5\"} 1\n{\"my.sum_sum\"} 5\n\
         {\"my.sum_count\"} 6\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for (escaping, hist, sum) in [
        ("dots", "my_dot_hist", "my_dot_sum"),
        ("values", "U__my_2e_hist", "U__my_2e_sum"),
        ("underscores", "my_hist", "my_sum"),
    ] {
        let text = scrape_as(&s, &format!("text/plain;version=0.0.4;escaping={escaping}")).text();
        for line in [
            format!("# TYPE {hist} histogram"),
            format!("{hist}_bucket{{instance=\"\",job=\"j\",le=\"1\"}} 2"),
            format!("{hist}_sum{{instance=\"\",job=\"j\"}} 4"),
            format!("{hist}_count{{instance=\"\",job=\"j\"}} 3"),
            format!("{sum}{{instance=\"\",job=\"j\",quantile=\"0.5\"}} 1"),
            format!("{sum}_count{{instance=\"\",job=\"j\"}} 6"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{escaping}: {line:?} in\n{text}"
            );
        }
    }
    if !util::require_python_module("google.protobuf") {
        return;
    }
    // Protobuf carries the samples inside their family: none may be lost.
    let accept = format!("{PROTOBUF}; escaping=dots");
    let body = scrape_as(&s, &accept).body;
    let json = String::from_utf8(util::proto_helper(&["decode", "--lines"], &body)).unwrap();
    let hist = json
        .lines()
        .find(|l| l.contains("\"name\": \"my_dot_hist\""))
        .unwrap_or_else(|| panic!("{json}"));
    assert!(hist.contains("\"sampleCount\": \"3\""), "{hist}");
    assert!(hist.contains("\"cumulativeCount\": \"2\""), "{hist}");
    let sum = json
        .lines()
        .find(|l| l.contains("\"name\": \"my_dot_sum\""))
        .unwrap_or_else(|| panic!("{json}"));
    assert!(sum.contains("\"sampleCount\": \"6\""), "{sum}");
}
