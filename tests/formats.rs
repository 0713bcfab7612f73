//! Scrape formats, black-box against the real binary: `Accept` negotiation, OpenMetrics 1.0
//! text, delimited protobuf and gzip'd responses, checked with real parsers and encoders:
//! - what the Python client pushes comes back as the same samples through every format, as
//!   prometheus_client's two parsers and Google's protobuf runtime read them
//!   (`tests/python/formats.py`);
//! - the OpenMetrics scrape of client_golang's test registry is byte for byte what
//!   client_golang itself writes as OpenMetrics (`client-golang.om.txt`), grouping labels aside
//!   and `le`/`quantile` values spelled as the pushed text spells them (`le="1"`, not `"1.0"`,
//!   so that Prometheus stores the series it stores from the upstream gateway's text);
//! - the protobuf scrape equals the reference Pushgateway's for the same pushes, native
//!   and gauge histograms included, and keeps them across restarts and compactions;
//! - a Prometheus server ingests the pushes through OpenMetrics, and through protobuf with
//!   native histograms enabled (Debian's Prometheus 2.42 predates `scrape_protocols`; its
//!   native-histograms feature flag is what makes it ask for protobuf first).

use std::collections::{BTreeMap, BTreeSet};

use crate::util::{self, Prometheus, Server, Target};

const PROTO: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0";
/// The prefixes of the families a gateway adds itself, which differ between gateways and
/// between two scrapes.
const OWN: [&str; 5] = ["go_", "process_", "pushgateway_", "pushgate_", "push_"];

fn testdata(name: &str) -> Vec<u8> {
    let path = util::testdata(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn put(s: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) {
    let resp = s.request("PUT", path, headers, body);
    assert_eq!(
        resp.status,
        200,
        "{:?} PUT {path}: {}",
        s.target,
        resp.text()
    );
}

fn scrape(s: &Server, headers: &[(&str, &str)]) -> util::Response {
    let resp = s.request("GET", "/metrics", headers, b"");
    assert_eq!(resp.status, 200, "{:?}: {}", s.target, resp.text());
    resp
}

/// A gauge histogram (only protobuf can push one) with a label, in delimited protobuf.
fn gauge_histogram() -> Vec<u8> {
    let json = r#"[{"name": "queue_size", "help": "Queued.", "type": "GAUGE_HISTOGRAM", "metric": [
        {"label": [{"name": "q", "value": "a"}],
         "histogram": {"sampleCount": "3", "sampleSum": 6,
                       "bucket": [{"upperBound": 2, "cumulativeCount": "1"}]}}]}]"#;
    util::proto_helper(&["encode"], json.as_bytes())
}

#[test]
fn python_client_push_reads_back_the_same_through_every_format() {
    if !util::require_python_module("prometheus_client")
        || !util::require_python_module("google.protobuf")
    {
        return;
    }
    let s = Server::start(Target::Pushgate, &[]);
    let push = util::python_script("push_client.py");
    // Without the client's `x_created` gauges: next to a counter `x_total` or a histogram `x`
    // they are legal text but clash with OpenMetrics' own `_created` samples, which the strict
    // Python parser refuses (Prometheus takes them; see the test with it below).
    util::run(
        "env",
        &[
            "PROMETHEUS_DISABLE_CREATED_SERIES=True",
            &util::python(),
            push.to_str().unwrap(),
            &s.addr.to_string(),
            "push",
        ],
        b"",
    );
    // A text push with what the client does not write: escapes, untyped, a counter without
    // `_total`, special values.
    put(
        &s,
        "/metrics/job/text/path@base64/L3Zhci90bXA",
        &[],
        b"# TYPE plain_counter counter\nplain_counter{q=\"a\\\"b\\\\c\\nd\"} 3\n\
          untyped_thing{x=\"\"} -Inf\n# TYPE g gauge\ng NaN\ng{y=\"1\"} 1e-05\n",
    );
    // A gauge histogram: every format shows the samples a histogram's are.
    put(
        &s,
        "/metrics/job/gauge",
        &[("Content-Type", PROTO)],
        &gauge_histogram(),
    );
    let script = util::python_script("formats.py");
    let out = util::run(
        &util::python(),
        &[script.to_str().unwrap(), &s.addr.to_string()],
        b"",
    );
    let mut by_format: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let out = String::from_utf8(out).expect("UTF-8");
    for line in out.lines() {
        let (format, sample) = line.split_once('\t').expect("FORMAT<TAB>...");
        by_format.entry(format).or_default().insert(sample);
    }
    let text = &by_format["text"];
    for want in [
        "plain_counter\tinstance=\"\",job=\"text\",path=\"/var/tmp\",q=\"a\\\"b\\\\c\\nd\"\t3.0",
        "untyped_thing\tinstance=\"\",job=\"text\",path=\"/var/tmp\",x=\"\"\t-inf",
        "g\tinstance=\"\",job=\"text\",path=\"/var/tmp\"\tnan",
    ] {
        assert!(text.contains(want), "{want} not in:\n{out}");
    }
    // The client's families: a histogram, a summary (without quantiles), a counter, a gauge;
    // and the gauge histogram.
    for name in [
        "py_size_bytes_bucket\t",
        "py_latency_seconds_sum\t",
        "py_jobs\t",
        "queue_size_count\t",
    ] {
        assert!(text.iter().any(|s| s.contains(name)), "{name} in:\n{out}");
    }
    assert_eq!(by_format.len(), 6, "{out}");
    for (format, samples) in &by_format {
        let extra: Vec<_> = samples.difference(text).collect();
        let missing: Vec<_> = text.difference(samples).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{format} differs from text: extra {extra:#?}, missing {missing:#?}"
        );
    }
}

/// `body` with the lines of the gateway's own families removed and the grouping labels of
/// `PUT /metrics/job/x` taken out of every series.
fn without_gateway(body: &str) -> String {
    body.lines()
        .filter(|l| {
            let name = match l.strip_prefix("# ") {
                Some(comment) => comment.split(' ').nth(1).unwrap_or_default(),
                None => l,
            };
            !OWN.iter().any(|p| name.starts_with(p))
        })
        .map(|l| {
            let l = l
                .replace("{instance=\"\",job=\"x\"}", "")
                .replace("instance=\"\",job=\"x\",", "");
            l + "\n"
        })
        .collect()
}

#[test]
fn openmetrics_is_what_client_golang_writes() {
    let s = Server::start(Target::Pushgate, &[]);
    put(&s, "/metrics/job/x", &[], &testdata("client-golang.prom"));
    let resp = scrape(&s, &[("Accept", OPENMETRICS)]);
    assert_eq!(
        resp.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let want = String::from_utf8(testdata("client-golang.om.txt")).unwrap();
    assert_eq!(
        without_gateway(&resp.text()),
        bounds_as_text_spells_them(&want)
    );
}

/// OpenMetrics `le="1.0"` and `quantile="1.0"` as the text format spells them: `"1"`.
fn bounds_as_text_spells_them(om: &str) -> String {
    let mut out = String::new();
    let mut rest = om;
    while let Some(at) = ["le=\"", "quantile=\""]
        .iter()
        .filter_map(|l| rest.find(l).map(|i| i + l.len()))
        .min()
    {
        let (head, tail) = rest.split_at(at);
        let end = tail.find('"').expect("closing quote");
        let value = &tail[..end];
        out.push_str(head);
        match value.strip_suffix(".0") {
            Some(int) if int.bytes().all(|b| b.is_ascii_digit() || b == b'-') => out.push_str(int),
            _ => out.push_str(value),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The families of a delimited protobuf body, one JSON object per line (protobuf's JSON
/// mapping), the gateway's own left out.
fn proto_families(body: &[u8]) -> Vec<String> {
    let json = util::proto_helper(&["decode", "--lines"], body);
    String::from_utf8(json)
        .unwrap()
        .lines()
        .filter(|f| !OWN.iter().any(|p| f.contains(&format!("\"name\": \"{p}"))))
        .map(str::to_string)
        .collect()
}

#[test]
fn protobuf_scrape_matches_the_reference() {
    if !Target::Reference.available() || !util::require_python_module("google.protobuf") {
        return;
    }
    let ours = Server::start(Target::Pushgate, &[]);
    let reference = Server::start(Target::Reference, &[]);
    let pb = [("Content-Type", PROTO)];
    for s in [&ours, &reference] {
        put(s, "/metrics/job/text", &[], &testdata("client-golang.prom"));
        put(
            s,
            "/metrics/job/proto/i/1",
            &pb,
            &testdata("client-golang.pb"),
        );
        // Which breaks the reference's text exposition, but not its protobuf one.
        put(s, "/metrics/job/gauge", &pb, &gauge_histogram());
    }
    let accept = [("Accept", PROTO)];
    let (a, b) = (scrape(&ours, &accept), scrape(&reference, &accept));
    assert_eq!(a.header("content-type"), b.header("content-type"));
    let (a, b) = (proto_families(&a.body), proto_families(&b.body));
    assert!(a.len() >= 8, "{a:#?}");
    assert!(a
        .iter()
        .any(|f| f.contains("\"type\": \"GAUGE_HISTOGRAM\"")));
    let differing: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).collect();
    assert!(
        a.len() == b.len() && differing.is_empty(),
        "{} vs {} families; differing (ours, reference): {differing:#?}",
        a.len(),
        b.len()
    );
}

/// Pushes native and gauge histograms, restarts the gateway (started with `args`) once
/// `settled` says the log is as the test wants it, and compares the protobuf scrapes.
fn protobuf_families_survive_a_restart(args: &[&str], settled: impl Fn(&Server) -> bool) {
    if !util::require_python_module("google.protobuf") {
        return;
    }
    let s = Server::start(Target::Pushgate, args);
    let pb = [("Content-Type", PROTO)];
    put(&s, "/metrics/job/proto", &pb, &testdata("client-golang.pb"));
    put(&s, "/metrics/job/gauge", &pb, &gauge_histogram());
    let accept = [("Accept", PROTO)];
    let before = proto_families(&scrape(&s, &accept).body);
    assert!(before.iter().any(|f| f.contains("\"positiveSpan\"")));
    assert!(before.iter().any(|f| f.contains("\"GAUGE_HISTOGRAM\"")));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !settled(&s) {
        assert!(
            std::time::Instant::now() < deadline,
            "the log did not settle"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let s = s.restart();
    assert_eq!(proto_families(&scrape(&s, &accept).body), before);
}

#[test]
fn native_and_gauge_histograms_survive_a_restart() {
    protobuf_families_survive_a_restart(&[], |_| true);
}

#[test]
fn native_and_gauge_histograms_survive_compaction() {
    // When the pushes were done, a scrape saw when the last compaction ended; the second
    // one to end after that also started after it, and wrote the pushes into the new log.
    const DONE: &str = "pushgate_persistence_last_compaction_timestamp_seconds ";
    let seen = std::cell::RefCell::new(Vec::new());
    protobuf_families_survive_a_restart(&["--persistence.interval=50ms"], |s| {
        let text = String::from_utf8(scrape(s, &[]).body).unwrap();
        let done = text
            .lines()
            .find_map(|l| l.strip_prefix(DONE))
            .unwrap_or_else(|| panic!("{DONE} in\n{text}"))
            .to_string();
        let mut seen = seen.borrow_mut();
        if seen.last() != Some(&done) {
            seen.push(done);
        }
        seen.len() == 3
    });
}

#[test]
fn negotiation_and_gzip() {
    let s = Server::start(Target::Pushgate, &[]);
    put(&s, "/metrics/job/x", &[], &testdata("client-golang.prom"));
    for (accept, want) in [
        (None, "text/plain; version=0.0.4; charset=utf-8"),
        (Some("*/*"), "text/plain; version=0.0.4; charset=utf-8"),
        (
            Some("application/openmetrics-text;version=1.0.0;q=0.4,text/plain;q=0.5"),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (
            Some("application/openmetrics-text;version=0.0.1"),
            "application/openmetrics-text; version=0.0.1; charset=utf-8",
        ),
        (
            Some(&format!("{PROTO};q=0.9,{OPENMETRICS};q=0.8")),
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        ),
    ] {
        let mut headers = Vec::new();
        if let Some(a) = accept {
            headers.push(("Accept", a));
        }
        let plain = scrape(&s, &headers);
        assert_eq!(plain.header("content-type"), Some(want), "{accept:?}");
        assert_eq!(plain.header("content-encoding"), None);
        headers.push(("Accept-Encoding", "gzip"));
        let gz = scrape(&s, &headers);
        assert_eq!(gz.header("content-type"), Some(want), "{accept:?}");
        assert_eq!(gz.header("content-encoding"), Some("gzip"));
        let unzipped = util::run("gzip", &["-dc"], &gz.body);
        if want.starts_with("application/vnd") {
            assert_eq!(proto_families(&unzipped), proto_families(&plain.body));
        } else {
            let text = |b: &[u8]| without_gateway(std::str::from_utf8(b).unwrap());
            assert_eq!(text(&unzipped), text(&plain.body), "{accept:?}");
        }
    }
}

#[test]
fn prometheus_scrapes_openmetrics_and_protobuf() {
    if !util::require_tool("prometheus") {
        return;
    }
    let s = Server::start(Target::Pushgate, &[]);
    put(
        &s,
        "/metrics/job/proto",
        &[("Content-Type", PROTO)],
        &testdata("client-golang.pb"),
    );
    // A counter without `_total` keeps its name whatever the format, and so does a gauge
    // named like the `_created` sample of a counter (what the Python client pushes).
    put(
        &s,
        "/metrics/job/text",
        &[],
        b"# TYPE plain_counter counter\nplain_counter 7\n# TYPE jobs_total counter\njobs_total 2\n\
          # TYPE jobs_created gauge\njobs_created 1.5e+09\n",
    );
    // A gauge histogram: through OpenMetrics, the `_count` series the text format gives.
    // (Through protobuf, Prometheus 2.42 names its samples without their suffixes, as it does
    // the reference's: later releases read `_count`.)
    put(
        &s,
        "/metrics/job/gauge",
        &[("Content-Type", PROTO)],
        &gauge_histogram(),
    );
    let om = Prometheus::start(s.addr, &[]);
    om.wait_for(r#"plain_counter{job="text"}"#, |a| a.contains("\"7\"]"));
    om.wait_for(r#"jobs_created{job="text"}"#, |a| {
        a.contains("\"1500000000\"]")
    });
    om.wait_for(r#"batch_records_total{job="proto",kind="ok"}"#, |a| {
        a.contains("\"1027\"]")
    });
    om.wait_for(r#"queue_size_count{job="gauge",q="a"}"#, |a| {
        a.contains("\"3\"]")
    });
    let native = Prometheus::start(s.addr, &["--enable-feature=native-histograms"]);
    native.wait_for(r#"plain_counter{job="text"}"#, |a| a.contains("\"7\"]"));
}

/// The values of `label` in a Prometheus query answer, sorted.
fn label_values(answer: &str, label: &str) -> BTreeSet<String> {
    let key = format!("\"{label}\":\"");
    answer
        .match_indices(&key)
        .filter_map(|(at, k)| answer[at + k.len()..].split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn prometheus_stores_the_bucket_and_quantile_series_it_stores_from_the_reference() {
    if !util::require_tool("prometheus") || !Target::Reference.available() {
        return;
    }
    let query = r#"{__name__=~"batch_duration_seconds_bucket|batch_item_bytes",job="x"}"#;
    let mut stored = Vec::new();
    for target in [Target::Pushgate, Target::Reference] {
        let s = Server::start(target, &[]);
        put(&s, "/metrics/job/x", &[], &testdata("client-golang.prom"));
        // Prometheus 2.42 asks for OpenMetrics first: pushgate answers with it, the reference
        // (which has no OpenMetrics) with text.
        let p = Prometheus::start(s.addr, &[]);
        let answer = p.wait_for(query, |a| {
            label_values(a, "le").len() == 5 && label_values(a, "quantile").len() == 2
        });
        stored.push((
            label_values(&answer, "le"),
            label_values(&answer, "quantile"),
        ));
    }
    assert_eq!(stored[0], stored[1], "pushgate (left) vs reference (right)");
    assert!(
        stored[0].0.contains("1") && stored[0].0.contains("10"),
        "{:?}",
        stored[0]
    );
}

/// The body of a gzip'd response (one member, no optional header fields, as pushgate writes).
fn gunzip(body: &[u8]) -> Vec<u8> {
    assert_eq!(&body[..3], &[0x1f, 0x8b, 8], "a gzip member");
    miniz_oxide::inflate::decompress_to_vec(&body[10..body.len() - 8]).expect("inflates")
}

#[test]
fn the_default_accept_headers_of_prometheus_2_and_3() {
    let s = Server::start(Target::Pushgate, &["--push.enable-utf8-names"]);
    put(&s, "/metrics/job/j", &[], b"{\"my.metric\"} 1\nplain 2\n");
    let prometheus_2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
        version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let prometheus_2_native = "application/vnd.google.protobuf;proto=io.prometheus.client.\
        MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,\
        application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
        application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;\
        escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let prometheus_3_native = "application/vnd.google.protobuf;proto=io.prometheus.client.\
        MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.5,application/openmetrics-text;\
        version=1.0.0;escaping=allow-utf-8;q=0.4,application/openmetrics-text;version=0.0.1;\
        q=0.3,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.2,text/plain;version=0.0.4;\
        q=0.1,*/*;q=0.05";
    for (accept, content_type, wanted) in [
        (
            prometheus_2,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            &b"my_metric{instance=\"\",job=\"j\"} 1.0\n"[..],
        ),
        (
            prometheus_2_native,
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; \
             encoding=delimited",
            b"my_metric",
        ),
        (
            prometheus_3,
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            b"{\"my.metric\",instance=\"\",job=\"j\"} 1.0\n",
        ),
        (
            prometheus_3_native,
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; \
             encoding=delimited; escaping=allow-utf-8",
            b"my.metric",
        ),
    ] {
        let resp = scrape(&s, &[("Accept", accept), ("Accept-Encoding", "gzip")]);
        assert_eq!(resp.header("content-type"), Some(content_type), "{accept}");
        assert_eq!(resp.header("content-encoding"), Some("gzip"), "{accept}");
        let body = gunzip(&resp.body);
        assert!(
            body.windows(wanted.len()).any(|w| w == wanted),
            "{accept}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}
