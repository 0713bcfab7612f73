//! Push wire formats, black-box against the real binary: delimited protobuf bodies written by
//! real encoders (client_golang's testdata files; Google's protobuf runtime for Python driven
//! by `tests/python/proto_helper.py`), `Content-Encoding: gzip` (the `gzip` tool) and `snappy`
//! (framed) bodies, and hostile input. Where upstream behaves the same, the reference
//! Pushgateway answers the same pushes and the expositions are compared as sample sets.

use std::io::Write;

use crate::util::{self, Exposition, Server, Target};

const PROTO: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

fn testdata(name: &str) -> Vec<u8> {
    let path = util::testdata(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn pushgate(extra: &[&str]) -> Server {
    Server::start(Target::Pushgate, extra)
}

/// The reference Pushgateway, when installed (required under CI).
fn reference() -> Option<Server> {
    Target::Reference
        .available()
        .then(|| Server::start(Target::Reference, &[]))
}

fn put(s: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> util::Response {
    s.request("PUT", path, headers, body)
}

fn assert_status(resp: &util::Response, want: u16, what: &str) {
    assert_eq!(resp.status, want, "{what}: {}", resp.text());
}

/// Panics with a readable diff when two expositions differ.
fn assert_same(left: &Exposition, right: &Exposition, what: &str) {
    assert!(
        left == right,
        "{what}: expositions differ:\n{}",
        left.diff(right)
    );
}

// ---- the Python protobuf encoder ----

/// Delimited protobuf of the MetricFamily messages in `json` (protobuf's JSON mapping).
fn encode(json: &str, packed: bool) -> Vec<u8> {
    let args: &[&str] = if packed {
        &["encode", "--packed"]
    } else {
        &["encode"]
    };
    util::proto_helper(args, json.as_bytes())
}

/// One family of each kind a push can carry, in protobuf's JSON mapping. `CLASSIC` is what
/// the text format can say as well; `TEXT_TWIN` says it.
const CLASSIC: &str = r#"
{"name": "wire_requests_total", "help": "Requests.\nSecond line with a \\ backslash.",
 "type": "COUNTER", "unit": "requests", "metric": [
  {"label": [{"name": "code", "value": "200"}, {"name": "path", "value": "C:\\tmp \"q\"\nx"}],
   "counter": {"value": 1027,
               "exemplar": {"label": [{"name": "trace_id", "value": "abc"}], "value": 1,
                            "timestamp": "2024-01-01T00:00:00Z"},
               "createdTimestamp": "2024-01-01T00:00:00Z"}},
  {"label": [{"name": "code", "value": "500"}], "counter": {"value": 3}}]},
{"name": "wire_temperature", "type": "GAUGE", "metric": [{"gauge": {"value": -12.5}}]},
{"name": "wire_thing", "type": "UNTYPED", "metric": [
  {"label": [{"name": "k", "value": "nan"}], "untyped": {"value": "NaN"}},
  {"label": [{"name": "k", "value": "inf"}], "untyped": {"value": "-Infinity"}},
  {"label": [{"name": "k", "value": "small"}], "untyped": {"value": 1.2e-05}}]},
{"name": "wire_default_type", "metric": [{"counter": {"value": 1.5e+300}}]},
{"name": "wire_latency_seconds", "help": "Summary.", "type": "SUMMARY", "metric": [
  {"summary": {"sampleCount": "100", "sampleSum": 50.5,
               "quantile": [{"quantile": 0.5, "value": 0.4}, {"quantile": 0.99, "value": 2}]}}]},
{"name": "wire_size_bytes", "type": "HISTOGRAM", "metric": [
  {"histogram": {"sampleCount": "9", "sampleSum": 43.8,
                 "bucket": [{"upperBound": 0.1, "cumulativeCount": "4"},
                            {"upperBound": 1, "cumulativeCount": "7",
                             "exemplar": {"value": 0.5}},
                            {"upperBound": "Infinity", "cumulativeCount": "9"}]}}]},
{"name": "wire_native_seconds", "type": "HISTOGRAM", "metric": [
  {"histogram": {"sampleCount": "6", "sampleSum": 12, "schema": 1, "zeroThreshold": 0.001,
                 "zeroCount": "1",
                 "negativeSpan": [{"offset": -1, "length": 1}], "negativeDelta": ["1"],
                 "positiveSpan": [{"offset": 0, "length": 2}, {"offset": 3, "length": 1}],
                 "positiveDelta": ["1", "1", "-1"],
                 "bucket": [{"upperBound": 1, "cumulativeCount": "2"}],
                 "exemplars": [{"value": 1.5, "timestamp": "2024-01-01T00:00:00Z"}]}}]},
{"name": "wire_native_empty", "type": "HISTOGRAM", "metric": [
  {"histogram": {"sampleCount": "0", "sampleSum": 0, "schema": 3, "zeroThreshold": 0,
                 "positiveSpan": [{"offset": 0, "length": 0}]}}]},
{"name": "wire_repeated", "type": "GAUGE", "metric": [{"gauge": {"value": 1}}]},
{"name": "wire_repeated", "type": "COUNTER", "metric": [{"counter": {"value": 2}}]},
{"name": "wire_empty", "type": "GAUGE"}
"#;

const TEXT_TWIN: &str = r#"# HELP wire_requests_total Requests.\nSecond line with a \\ backslash.
# TYPE wire_requests_total counter
wire_requests_total{code="200",path="C:\\tmp \"q\"\nx"} 1027
wire_requests_total{code="500"} 3
# TYPE wire_temperature gauge
wire_temperature -12.5
# TYPE wire_thing untyped
wire_thing{k="nan"} NaN
wire_thing{k="inf"} -Inf
wire_thing{k="small"} 1.2e-05
# TYPE wire_default_type counter
wire_default_type 1.5e+300
# HELP wire_latency_seconds Summary.
# TYPE wire_latency_seconds summary
wire_latency_seconds{quantile="0.5"} 0.4
wire_latency_seconds{quantile="0.99"} 2
wire_latency_seconds_sum 50.5
wire_latency_seconds_count 100
# TYPE wire_size_bytes histogram
wire_size_bytes_bucket{le="0.1"} 4
wire_size_bytes_bucket{le="1"} 7
wire_size_bytes_bucket{le="+Inf"} 9
wire_size_bytes_sum 43.8
wire_size_bytes_count 9
# TYPE wire_native_seconds histogram
wire_native_seconds_bucket{le="1"} 2
wire_native_seconds_sum 12
wire_native_seconds_count 6
# TYPE wire_native_empty histogram
wire_native_empty_sum 0
wire_native_empty_count 0
# TYPE wire_repeated counter
wire_repeated 2
# TYPE wire_empty gauge
"#;

/// What upstream's later text output makes of a float histogram (float counts) and of a
/// gauge histogram (a histogram); upstream 1.5.1 shows zeros for the first and breaks its
/// whole text exposition on the second, so these are not compared with the reference here.
const BEYOND_151: &str = r#"
{"name": "wire_float", "type": "HISTOGRAM", "metric": [
  {"histogram": {"sampleCountFloat": 4.5, "sampleSum": 3, "schema": 0, "zeroCountFloat": 0.5,
                 "positiveSpan": [{"offset": 1, "length": 2}], "positiveCount": [1.5, 2.5],
                 "bucket": [{"upperBound": 1, "cumulativeCountFloat": 2.5}]}}]},
{"name": "wire_queue", "type": "GAUGE_HISTOGRAM", "metric": [
  {"histogram": {"sampleCount": "3", "sampleSum": 6,
                 "bucket": [{"upperBound": 2, "cumulativeCount": "1"}]}}]}
"#;

#[test]
fn proto_helper_schema_matches_client_golang() {
    if !util::require_python_module("google.protobuf") {
        return;
    }
    for file in ["client-golang.pb", "node-exporter.pb"] {
        let path = util::testdata(file);
        let out = util::proto_helper(&["verify", path.to_str().expect("UTF-8 path")], b"");
        assert!(
            String::from_utf8_lossy(&out).contains("families ok"),
            "{file}"
        );
    }
}

#[test]
fn protobuf_and_text_twins_expose_the_same() {
    let (pb, txt) = (pushgate(&[]), pushgate(&[]));
    let pairs = [
        ("client-golang", "/metrics/job/cg"),
        ("node-exporter", "/metrics/job/node/instance/n1"),
    ];
    for (stem, path) in pairs {
        let resp = put(
            &pb,
            path,
            &[("Content-Type", PROTO)],
            &testdata(&format!("{stem}.pb")),
        );
        assert_status(&resp, 200, stem);
        let resp = put(&txt, path, &[], &testdata(&format!("{stem}.prom")));
        assert_status(&resp, 200, stem);
    }
    let (a, b) = (pb.scrape(), txt.scrape());
    assert!(a.has("batch_size_bytes_bucket") && a.has("node_cpu_seconds_total"));
    // node_exporter's two bodies were taken moments apart: the same series, other values. So
    // its group is compared by series, the rest exactly.
    let split = |e: &Exposition| {
        let (node, rest): (Vec<_>, Vec<_>) = e
            .samples
            .iter()
            .cloned()
            .partition(|s| s.labels.contains(&("job".into(), "node".into())));
        let series: Vec<_> = node.into_iter().map(|s| (s.name, s.labels)).collect();
        (series, rest)
    };
    let ((a_node, a_rest), (b_node, b_rest)) = (split(&a), split(&b));
    assert!(a_node.len() > 400);
    assert!(a_node == b_node, "node-exporter series differ");
    assert_eq!(a_rest, b_rest);
    assert_eq!((&a.types, &a.help), (&b.types, &b.help));
}

#[test]
fn python_encoder_round_trip() {
    if !util::require_python_module("google.protobuf") {
        return;
    }
    let json = format!("[{CLASSIC}]");
    let s = pushgate(&[]);
    let mut scrapes = Vec::new();
    for packed in [false, true] {
        let resp = put(
            &s,
            "/metrics/job/w",
            &[("Content-Type", PROTO)],
            &encode(&json, packed),
        );
        assert_status(&resp, 200, "corpus");
        scrapes.push(s.scrape());
    }
    assert_same(&scrapes[0], &scrapes[1], "unpacked vs packed");
    let twin = pushgate(&[]);
    assert_status(
        &put(&twin, "/metrics/job/w", &[], TEXT_TWIN.as_bytes()),
        200,
        "text twin",
    );
    assert_same(&scrapes[0], &twin.scrape(), "protobuf vs text");
}

#[test]
fn float_and_gauge_histograms() {
    if !util::require_python_module("google.protobuf") {
        return;
    }
    let s = pushgate(&[]);
    let body = encode(&format!("[{BEYOND_151}]"), false);
    assert_status(
        &put(&s, "/metrics/job/f", &[("Content-Type", PROTO)], &body),
        200,
        "push",
    );
    let e = s.scrape();
    let v = |name: &str, le: Option<&str>| {
        let mut labels = vec![("instance", ""), ("job", "f")];
        labels.extend(le.map(|le| ("le", le)));
        e.value(name, &labels).map(str::to_string)
    };
    for (name, le, want) in [
        ("wire_float_bucket", Some("1"), "2.5"),
        ("wire_float_bucket", Some("+Inf"), "4.5"),
        ("wire_float_sum", None, "3"),
        ("wire_float_count", None, "4.5"),
        ("wire_queue_bucket", Some("2"), "1"),
        ("wire_queue_bucket", Some("+Inf"), "3"),
        ("wire_queue_count", None, "3"),
    ] {
        assert_eq!(
            v(name, le).as_deref(),
            Some(want),
            "{name} {le:?}\n{}",
            e.render()
        );
    }
    assert_eq!(e.types["wire_queue"], "histogram");
    // Protobuf says what was pushed: the gauge histogram keeps its type.
    let resp = s.request("GET", "/metrics", &[("Accept", PROTO)], b"");
    let decoded =
        String::from_utf8(util::proto_helper(&["decode", "--lines"], &resp.body)).unwrap();
    let family = |name: &str| {
        decoded
            .lines()
            .find(|l| l.contains(&format!("\"name\": \"{name}\"")))
            .unwrap_or_else(|| panic!("{name} in\n{decoded}"))
            .to_string()
    };
    assert!(family("wire_queue").contains("\"type\": \"GAUGE_HISTOGRAM\""));
    assert!(family("wire_float").contains("\"type\": \"HISTOGRAM\""));
    // The JSON API, as upstream's newest release has it: the float histogram's native buckets
    // with float counts (its zero bucket, of threshold 0, included), and the gauge histogram
    // as the value 0.
    let api = s.get("/api/v1/metrics").text();
    let labels = r#""labels":{"instance":"","job":"f"}"#;
    for want in [
        format!(
            r#""metrics":[{{"buckets":[[3,"-0","0","0.5"],[0,"1","2","1.5"],[0,"2","4","2.5"]],"count":"4.5",{labels},"sum":"3"}}]"#
        ),
        format!(r#""type":"GAUGE_HISTOGRAM","metrics":[{{{labels},"value":"0"}}]"#),
    ] {
        assert!(api.contains(&want), "{want}\nnot in\n{api}");
    }
}

/// Upstream checks a push against the others by gathering them all, and does not notice a
/// histogram and a gauge histogram of the same name (it then serves whichever type it
/// happens to see first). pushgate refuses the second, as any other change of type.
#[test]
fn a_gauge_histogram_does_not_take_a_histograms_name() {
    if !util::require_python_module("google.protobuf") {
        return;
    }
    let s = pushgate(&[]);
    let family = |mtype: &str| {
        encode(
            &format!(
                r#"[{{"name": "wire_q", "type": "{mtype}", "metric": [
                    {{"histogram": {{"sampleCount": "1", "sampleSum": 1}}}}]}}]"#
            ),
            false,
        )
    };
    let headers = [("Content-Type", PROTO)];
    assert_status(
        &put(&s, "/metrics/job/a", &headers, &family("HISTOGRAM")),
        200,
        "histogram",
    );
    let resp = put(&s, "/metrics/job/b", &headers, &family("GAUGE_HISTOGRAM"));
    assert_status(&resp, 400, "gauge histogram");
    assert!(
        resp.text().contains("} is not a HISTOGRAM"),
        "{}",
        resp.text()
    );
    // The group's own family may change its type.
    assert_status(
        &put(&s, "/metrics/job/a", &headers, &family("GAUGE_HISTOGRAM")),
        200,
        "own group",
    );
}

#[test]
fn timestamps_are_refused() {
    if !util::require_python_module("google.protobuf") {
        return;
    }
    let s = pushgate(&[]);
    let body = encode(
        r#"[{"name": "t", "metric": [{"counter": {"value": 1}, "timestampMs": "1700000000000"}]}]"#,
        false,
    );
    let resp = put(&s, "/metrics/job/t", &[("Content-Type", PROTO)], &body);
    assert_status(&resp, 400, "timestamp");
    assert!(
        resp.text().contains("must not have timestamps"),
        "{}",
        resp.text()
    );
    let e = s.scrape();
    assert!(!e.has("t"));
    assert_eq!(
        e.value(
            "push_failure_time_seconds",
            &[("instance", ""), ("job", "t")]
        ),
        Some("nonzero")
    );
}

#[test]
fn protobuf_differential() {
    let Some(r) = reference() else { return };
    let p = pushgate(&[]);
    let mut pushes: Vec<(&str, Vec<u8>)> = vec![
        ("/metrics/job/cg", testdata("client-golang.pb")),
        (
            "/metrics/job/node/instance/n1",
            testdata("node-exporter.pb"),
        ),
    ];
    if util::require_python_module("google.protobuf") {
        pushes.push(("/metrics/job/w", encode(&format!("[{CLASSIC}]"), false)));
        pushes.push(("/metrics/job/packed", encode(&format!("[{CLASSIC}]"), true)));
    }
    for (path, body) in &pushes {
        for s in [&r, &p] {
            let resp = put(s, path, &[("Content-Type", PROTO)], body);
            assert_status(&resp, 200, &format!("{:?} {path}", s.target));
        }
    }
    // The same body gzip-compressed, which upstream has always accepted.
    if util::require_tool("gzip") {
        let gz = util::run("gzip", &["-c"], &testdata("client-golang.pb"));
        let headers = [("Content-Type", PROTO), ("Content-Encoding", "gzip")];
        for s in [&r, &p] {
            assert_status(&put(s, "/metrics/job/gz", &headers, &gz), 200, "gzip");
        }
    }
    assert_same(&r.scrape(), &p.scrape(), "reference vs pushgate");
}

#[test]
fn gzip_bodies() {
    if !util::require_tool("gzip") {
        return;
    }
    let s = pushgate(&[]);
    let plain = pushgate(&[]);
    let text = testdata("client-golang.prom");
    let pb = testdata("client-golang.pb");
    // `gzip -c FILE` records the file name (FNAME); from stdin it does not.
    let named = util::run(
        "gzip",
        &["-c", util::testdata("client-golang.pb").to_str().unwrap()],
        b"",
    );
    assert_ne!(named[3] & 8, 0, "FNAME flag");
    let half = text.len() / 2;
    let two_members = [
        util::run("gzip", &["-c"], &text[..half]),
        util::run("gzip", &["-9c"], &text[half..]),
    ]
    .concat();
    // (path, body, Content-Type, Content-Encoding, the body uncompressed)
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a str>, &'a str, &'a [u8]);
    let cases: Vec<Case> = vec![
        (
            "/metrics/job/t",
            util::run("gzip", &["-1c"], &text),
            None,
            "gzip",
            &text,
        ),
        ("/metrics/job/p", named, Some(PROTO), "GZip", &pb),
        ("/metrics/job/two", two_members, None, "gzip", &text),
        ("/metrics/job/i", text.clone(), None, "identity", &text),
    ];
    for (path, body, ct, encoding, original) in &cases {
        let mut headers = vec![("Content-Encoding", *encoding)];
        headers.extend(ct.map(|ct| ("Content-Type", ct)));
        assert_status(&put(&s, path, &headers, body), 200, path);
        let headers: Vec<_> = ct.iter().map(|ct| ("Content-Type", *ct)).collect();
        assert_status(&put(&plain, path, &headers, original), 200, path);
    }
    assert_same(&s.scrape(), &plain.scrape(), "gzip vs plain");
}

#[test]
fn snappy_bodies() {
    let s = pushgate(&[]);
    let plain = pushgate(&[]);
    let frame = |data: &[u8]| {
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(data).unwrap();
        w.into_inner().unwrap()
    };
    for (path, file, ct) in [
        ("/metrics/job/t", "node-exporter.prom", None),
        ("/metrics/job/p", "client-golang.pb", Some(PROTO)),
    ] {
        let original = testdata(file);
        let mut headers = vec![("Content-Encoding", "snappy")];
        headers.extend(ct.map(|ct| ("Content-Type", ct)));
        assert_status(&put(&s, path, &headers, &frame(&original)), 200, file);
        let headers: Vec<_> = ct.iter().map(|ct| ("Content-Type", *ct)).collect();
        assert_status(&put(&plain, path, &headers, &original), 200, file);
    }
    assert_same(&s.scrape(), &plain.scrape(), "snappy vs plain");
}

#[test]
fn bad_bodies_are_refused_and_the_server_carries_on() {
    const LIMIT: usize = 1_000_000;
    let s = pushgate(&[&format!("--push.max-body-bytes={LIMIT}")]);
    let gzip = util::require_tool("gzip");
    let mut cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("br", "/metrics/job/a", b"x 1\n".to_vec(), 415, "\"br\""),
        (
            "gzip",
            "/metrics/job/a",
            b"not gzip at all\n".to_vec(),
            400,
            "gzip: invalid header",
        ),
        (
            "snappy",
            "/metrics/job/a",
            b"x 1\n".to_vec(),
            400,
            "invalid snappy body",
        ),
    ];
    let zeros = vec![0u8; 20 * LIMIT];
    let mut w = snap::write::FrameEncoder::new(Vec::new());
    w.write_all(&zeros[..8 * LIMIT]).unwrap();
    let snappy_bomb = w.into_inner().unwrap();
    assert!(snappy_bomb.len() < LIMIT);
    cases.push((
        "snappy",
        "/metrics/job/b",
        snappy_bomb,
        413,
        "decompressed body exceeds 1000000 bytes",
    ));
    if gzip {
        let good = util::run("gzip", &["-c"], b"x 1\n");
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        let bomb = util::run("gzip", &["-1c"], &zeros);
        assert!(bomb.len() < LIMIT / 10);
        cases.extend([
            (
                "gzip",
                "/metrics/job/a",
                good[..good.len() - 3].to_vec(),
                400,
                "unexpected EOF",
            ),
            (
                "gzip",
                "/metrics/job/a",
                bad_crc,
                400,
                "gzip: invalid checksum",
            ),
            (
                "gzip",
                "/metrics/job/b",
                bomb,
                413,
                "decompressed body exceeds 1000000 bytes",
            ),
        ]);
    }
    for (encoding, path, body, status, reason) in &cases {
        let resp = put(&s, path, &[("Content-Encoding", encoding)], body);
        assert_eq!(resp.status, *status, "{encoding} {reason}: {}", resp.text());
        assert!(resp.text().contains(reason), "{encoding}: {}", resp.text());
        assert!(!resp.text().trim_end().contains('\n'), "{}", resp.text());
    }
    let e = s.scrape();
    assert!(!e.has("x") && !e.has("push_time_seconds"), "{}", e.render());
    assert_status(&put(&s, "/metrics/job/a", &[], b"x 1\n"), 200, "after");
    assert!(s.scrape().has("x"));
}

fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

/// A length-delimited field `num` holding `content`.
fn field(num: u8, content: &[u8]) -> Vec<u8> {
    [&[num << 3 | 2][..], &varint(content.len()), content].concat()
}

/// `message` with its length prefix.
fn delimited(message: &[u8]) -> Vec<u8> {
    [varint(message.len()), message.to_vec()].concat()
}

#[test]
fn hostile_protobuf_is_refused_and_the_server_carries_on() {
    let s = pushgate(&[]);
    // 100,000 nested unknown groups (field 9) as one family message.
    let deep = delimited(&vec![0x4b; 100_000]);
    let golang = testdata("client-golang.pb");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated varint", vec![0x80, 0x80], "truncated varint"),
        ("varint past 64 bits", vec![0xff; 11], "overflows 64 bits"),
        (
            "huge length prefix",
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, b'a'],
            "runs past the end",
        ),
        (
            "truncated body",
            golang[..100].to_vec(),
            "runs past the end",
        ),
        ("groups nested deep", deep, "nested more than 64 deep"),
        ("wrong wire type", vec![2, 0x08, 0x01], "wire type varint"),
        ("no name", vec![2, 0x18, 0x01], "without a name"),
        (
            "bad name",
            b"\x05\x0a\x03a-b".to_vec(),
            "invalid metric name \"a-b\"",
        ),
        (
            "unknown type",
            b"\x05\x0a\x01x\x18\x09".to_vec(),
            "unknown type 9",
        ),
        (
            "bad label",
            delimited(
                &[
                    field(1, b"x"),
                    field(
                        4,
                        &[field(1, &[field(1, b"-"), field(2, b"")].concat())].concat(),
                    ),
                ]
                .concat(),
            ),
            "invalid label name \"-\"",
        ),
    ];
    for (what, body, reason) in &cases {
        let resp = put(&s, "/metrics/job/h", &[("Content-Type", PROTO)], body);
        assert_eq!(resp.status, 400, "{what}: {}", resp.text());
        let text = resp.text();
        assert!(text.contains(reason), "{what}: {text}");
        assert!(
            text.starts_with("protobuf decoding error at byte "),
            "{what}: {text}"
        );
        assert!(!text.trim_end().contains('\n'), "{what}: {text}");
    }
    let e = s.scrape();
    assert!(
        !e.has("push_time_seconds"),
        "a refused body touched the store"
    );
    let ok = put(&s, "/metrics/job/h", &[("Content-Type", PROTO)], &golang);
    assert_status(&ok, 200, "valid push afterwards");
    assert!(s.scrape().has("batch_records_total"));
}
