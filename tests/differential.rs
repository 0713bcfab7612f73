//! Differential tests: the same request sequence against pushgate and against upstream's
//! Pushgateway (the reference), each on a fresh server; after every request the status code,
//! the body (rejection reasons included, byte for byte but for what upstream itself varies) and
//! the parsed `/metrics` (see `util::Exposition`: own and runtime metrics dropped, push
//! timestamps masked to zero/nonzero) must be the same.
//!
//! Covered: PUT/POST/DELETE semantics, empty bodies, grouping keys (extra labels, `@base64`,
//! overriding body labels, `instance=""`), timestamps, type conflicts, duplicate series, summary
//! and histogram suffix collisions, bad paths, body syntax errors, real encoders' bodies (text,
//! protobuf, gzip), routes, `--push.disable-consistency-check`, and the bytes of short answers
//! and of HTTP framing (`Host`, target forms, bodies cut short). Where SPEC.md deliberately
//! differs from upstream, the case asserts upstream's answer on the reference and SPEC's on
//! pushgate, and says why.
//!
//! `PUSHGATE_TEST_TARGET=reference` compares the reference with itself, which proves the cases
//! and the harness before pushgate can pass them.

use std::thread;
use std::time::Duration;

use crate::util::{self, Exposition, Server, Target};

/// One HTTP request of a case.
struct Step {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
}

fn step(method: &'static str, path: &str, body: &[u8]) -> Step {
    Step {
        method,
        path: path.to_string(),
        headers: Vec::new(),
        body: body.to_vec(),
    }
}

fn put(path: &str, body: &str) -> Step {
    step("PUT", path, body.as_bytes())
}

fn post(path: &str, body: &str) -> Step {
    step("POST", path, body.as_bytes())
}

fn delete(path: &str) -> Step {
    step("DELETE", path, b"")
}

fn get(path: &str) -> Step {
    step("GET", path, b"")
}

impl Step {
    fn header(mut self, name: &'static str, value: &'static str) -> Step {
        self.headers.push((name, value));
        self
    }
}

/// What a client sees after one step: its status, then the whole exposition.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: u16,
    /// The response body (reasons of rejections).
    text: String,
    exposition: Exposition,
}

/// Upstream acknowledges DELETE (and pushes without the consistency check) with 202 before its
/// storage goroutine applies them, so right after a 202 we scrape until two scrapes agree.
const SETTLE_INTERVAL: Duration = Duration::from_millis(25);
const SETTLE_TRIES: usize = 40;

fn settled_scrape(server: &Server, after_async_ack: bool) -> Exposition {
    let mut last = server.scrape();
    if !after_async_ack {
        return last;
    }
    for _ in 0..SETTLE_TRIES {
        thread::sleep(SETTLE_INTERVAL);
        let next = server.scrape();
        if next == last {
            return next;
        }
        last = next;
    }
    last
}

/// Runs `steps` on a fresh `target` started with `args`.
fn run(target: Target, args: &[&str], steps: &[Step]) -> Vec<Outcome> {
    let server = Server::start(target, args);
    steps
        .iter()
        .map(|s| {
            let resp = server.request(s.method, &s.path, &s.headers, &s.body);
            Outcome {
                status: resp.status,
                text: resp.text(),
                exposition: settled_scrape(&server, resp.status == 202),
            }
        })
        .collect()
}

/// Whether the reference is installed; without it there is nothing to compare against.
fn reference_available() -> bool {
    Target::Reference.available()
}

/// Runs `steps` on the target under test and on the reference, asserts that every outcome is the
/// same, and returns the reference's outcomes so a case can check it tests what it claims.
fn same(args: &[&str], steps: &[Step]) -> Option<Vec<Outcome>> {
    if !reference_available() {
        return None;
    }
    let candidate = Target::under_test();
    let got = run(candidate, args, steps);
    let want = run(Target::Reference, args, steps);
    for (i, ((s, g), w)) in steps.iter().zip(&got).zip(&want).enumerate() {
        let request = format!("step {i}: {} {}", s.method, s.path);
        assert_eq!(
            g.status, w.status,
            "{request}: status {candidate:?} (left) vs reference (right)"
        );
        // Bodies are compared byte for byte but for the JSON API and scrapes, which carry
        // build information, flags, times and own metrics and are compared elsewhere.
        if !s.path.starts_with("/api/") && s.path != "/metrics" {
            assert_eq!(
                comparable(&g.text),
                comparable(&w.text),
                "{request}: body {candidate:?} (left) vs reference (right)"
            );
        }
        assert!(
            g.exposition == w.exposition,
            "{request}: exposition differs, {candidate:?} (left) vs reference (right):\n{}",
            g.exposition.diff(&w.exposition)
        );
    }
    Some(want)
}

/// A rejection's text with what varies from run to run upstream masked. Upstream's check
/// gathers every group in map order, so of two colliding series it may show either (and
/// either's value), of a type conflict either side, and of a summary or histogram colliding
/// with a sample name it may name either first.
fn comparable(text: &str) -> String {
    if let Some(at) = text.find(" } is not a ") {
        // Either side of a type conflict.
        let name_end = text.find(" { ").unwrap_or(at);
        return format!("{} is of another type", &text[..name_end]);
    }
    const BEFORE: &str = " } was collected before with the same name and label values";
    if let Some(end) = text.find(BEFORE) {
        let value = [
            "untyped:<",
            "gauge:<",
            "counter:<",
            "summary:<",
            "histogram:<",
        ]
        .iter()
        .filter_map(|kind| text[..end].rfind(kind))
        .max()
        .unwrap_or(end);
        return format!("{}(value){}", &text[..value], &text[end..]);
    }
    let quoted = |s: &str| s.split('"').nth(1).unwrap_or_default().to_string();
    let (aggregate, metric) = match text.split_once("collides with previously collected") {
        Some((first, second)) if first.contains("collected metric named") => {
            (quoted(second), quoted(first))
        }
        Some((first, second)) => (quoted(first), quoted(second)),
        None => return text.to_string(),
    };
    let prefix = &text[..text.find("collected").unwrap_or(0)];
    format!("{prefix}{aggregate} collides with {metric}")
}

/// For behaviour where SPEC.md deliberately differs from upstream: checks the reference against
/// `upstream` (so the documented difference stays true) and pushgate against `spec`.
fn differs(
    args: &[&str],
    steps: &[Step],
    upstream: impl Fn(&[Outcome]),
    spec: impl Fn(&[Outcome]),
) {
    if !reference_available() {
        return;
    }
    upstream(&run(Target::Reference, args, steps));
    if Target::under_test() == Target::Pushgate {
        spec(&run(Target::Pushgate, args, steps));
    }
}

fn statuses(outcomes: &[Outcome]) -> Vec<u16> {
    outcomes.iter().map(|o| o.status).collect()
}

fn assert_statuses(outcomes: &[Outcome], want: &[u16]) {
    assert_eq!(statuses(outcomes), want);
}

fn testdata(name: &str) -> Vec<u8> {
    let path = util::testdata(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path:?}: {e}"))
}

const JOB_J: [(&str, &str); 2] = [("instance", ""), ("job", "j")];

#[test]
fn put_replaces_the_whole_group() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j", "a 1\nb{x=\"1\"} 2\n"),
            put("/metrics/job/k", "b{x=\"2\"} 3\n"),
            put("/metrics/job/j", "a 3\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200, 200]);
    let last = &out[2].exposition;
    assert_eq!(last.value("a", &JOB_J), Some("3"));
    assert!(
        !last.render().contains("job=\"j\",x=\"1\""),
        "{}",
        last.render()
    );
}

#[test]
fn post_replaces_only_the_named_families() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j", "a{x=\"1\"} 1\na{x=\"2\"} 1\nb 2\n"),
            post("/metrics/job/j", "a{x=\"3\"} 5\nc 1\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200]);
    let last = &out[1].exposition;
    assert_eq!(last.value("b", &JOB_J), Some("2"));
    assert_eq!(
        last.value("a", &[("instance", ""), ("job", "j"), ("x", "1")]),
        None
    );
}

#[test]
fn delete_removes_only_its_group() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j/x/1", "a 1\n"),
            put("/metrics/job/j/x/2", "a 2\n"),
            put("/metrics/job/j", "a 3\n"),
            delete("/metrics/job/j/x/1"),
            delete("/metrics/job/j/x/1"),
            delete("/metrics/job/nonexistent"),
            delete("/metrics/job/j"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200, 200, 202, 202, 202, 202]);
    assert!(out[3].exposition.has("a"));
}

#[test]
fn empty_put_body_empties_the_group_but_keeps_it() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j", "a 1\n"),
            put("/metrics/job/j", ""),
            put("/metrics/job/fresh", ""),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200, 200]);
    assert!(!out[1].exposition.has("a"));
    assert_eq!(
        out[1].exposition.value("push_time_seconds", &JOB_J),
        Some("nonzero")
    );
}

#[test]
fn empty_post_body_keeps_the_metrics() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j", "a 1\n"),
            post("/metrics/job/j", ""),
            post("/metrics/job/fresh", ""),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200, 200]);
    assert_eq!(out[1].exposition.value("a", &JOB_J), Some("1"));
}

#[test]
fn grouping_key_labels_are_added_to_every_series() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j/zone/eu/rack/r1", "a{x=\"1\"} 1\nb 2\n"),
            put("/metrics/job/j/instance/i1", "a{x=\"1\"} 3\n"),
            put("/metrics/job/j/", "c 4\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200, 200]);
    let expo = &out[2].exposition;
    let eu = [
        ("instance", ""),
        ("job", "j"),
        ("rack", "r1"),
        ("zone", "eu"),
    ];
    assert_eq!(expo.value("b", &eu), Some("2"));
    assert_eq!(
        expo.value("a", &[("instance", "i1"), ("job", "j"), ("x", "1")]),
        Some("3")
    );
}

#[test]
fn base64_job_and_label_values() {
    let Some(out) = same(
        &[],
        &[
            // "a/b", "with space" unpadded, "=" for an empty value, ">>>???" in the URL-safe alphabet.
            put("/metrics/job@base64/YS9i", "a 1\n"),
            put("/metrics/job/j/v@base64/d2l0aCBzcGFjZQ", "a 2\n"),
            put("/metrics/job/j/v@base64/=", "a 3\n"),
            put("/metrics/job/j/v@base64/Pj4-Pz8_", "a 4\n"),
            put("/metrics/job@base64/=", "a 5\n"),
            put("/metrics/job/j/v@base64/!!", "a 6\n"),
            put("/metrics/job@base64/!!", "a 7\n"),
            delete("/metrics/job@base64/YS9i"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200, 200, 200, 400, 400, 400, 202]);
    let expo = &out[3].exposition;
    assert_eq!(
        expo.value("a", &[("instance", ""), ("job", "a/b")]),
        Some("1")
    );
    assert_eq!(
        expo.value("a", &[("instance", ""), ("job", "j"), ("v", "with space")]),
        Some("2")
    );
    assert_eq!(
        expo.value("a", &[("instance", ""), ("job", "j"), ("v", "")]),
        Some("3")
    );
    assert_eq!(
        expo.value("a", &[("instance", ""), ("job", "j"), ("v", ">>>???")]),
        Some("4")
    );
}

#[test]
fn key_labels_override_body_labels() {
    let Some(out) = same(
        &[],
        &[
            put(
                "/metrics/job/j/zone/path",
                "a{job=\"body\",zone=\"body\",instance=\"bi\",x=\"1\"} 1\n",
            ),
            put(
                "/metrics/job/k/instance/ki",
                "a{instance=\"bi\",x=\"2\"} 2\n",
            ),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200]);
    let expo = &out[1].exposition;
    assert_eq!(
        expo.value(
            "a",
            &[
                ("instance", "bi"),
                ("job", "j"),
                ("x", "1"),
                ("zone", "path")
            ]
        ),
        Some("1")
    );
    assert_eq!(
        expo.value("a", &[("instance", "ki"), ("job", "k"), ("x", "2")]),
        Some("2")
    );
}

#[test]
fn timestamps_are_rejected() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j", "a 1\n"),
            put("/metrics/job/j", "a 2 1700000000000\n"),
            post("/metrics/job/j", "b 2\nc 3 1700000000000\n"),
            put("/metrics/job/fresh", "a 1 1700000000000\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 400, 400, 400]);
    assert_eq!(out[1].exposition.value("a", &JOB_J), Some("1"));
    assert_eq!(
        out[1].exposition.value("push_failure_time_seconds", &JOB_J),
        Some("nonzero")
    );
}

#[test]
fn type_conflict_across_groups() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/g1", "# TYPE m counter\nm 1\n"),
            put("/metrics/job/g2", "# TYPE m gauge\nm 2\n"),
            put("/metrics/job/g1", "# TYPE m gauge\nm 3\n"),
            put("/metrics/job/g2", "m 4\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 400, 200, 400]);
    let g2 = [("instance", ""), ("job", "g2")];
    assert_eq!(
        out[1].exposition.value("push_failure_time_seconds", &g2),
        Some("nonzero")
    );
    assert_eq!(
        out[1].exposition.value("push_time_seconds", &g2),
        Some("zero")
    );
}

#[test]
fn duplicate_series_across_groups_with_subset_key() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j", "m{zone=\"a\"} 1\n"),
            put("/metrics/job/j/zone/a", "m 2\n"),
            put("/metrics/job/j/zone/b", "m 3\n"),
            put("/metrics/job/j", "m{zone=\"b\"} 4\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 400, 200, 400]);
}

#[test]
fn duplicate_series_within_one_push() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j", "m{x=\"1\"} 1\nm{x=\"1\"} 2\n"),
            // Equal once the key overrides the body's job label.
            put("/metrics/job/k", "m{job=\"a\"} 1\nm{job=\"b\"} 2\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[400, 400]);
}

#[test]
fn summary_and_histogram_suffix_collisions() {
    let Some(out) = same(
        &[],
        &[
            put(
                "/metrics/job/s",
                "# TYPE x summary\nx{quantile=\"0.5\"} 1\nx_sum 2\nx_count 3\n",
            ),
            put("/metrics/job/g", "# TYPE x_count gauge\nx_count 4\n"),
            put("/metrics/job/g", "# TYPE x_sum untyped\nx_sum{a=\"b\"} 4\n"),
            put("/metrics/job/h1", "# TYPE y_bucket gauge\ny_bucket 1\n"),
            put(
                "/metrics/job/h2",
                "# TYPE y histogram\ny_bucket{le=\"+Inf\"} 1\ny_sum 1\ny_count 1\n",
            ),
        ],
    ) else {
        return;
    };
    assert_eq!(out[1].status, 400, "x_count gauge beside summary x");
    assert_eq!(out[4].status, 400, "histogram y beside gauge y_bucket");
}

#[test]
fn invalid_label_names_in_path() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j/1x/y", "a 1\n"),
            put("/metrics/job/j/__x/y", "a 1\n"),
            put("/metrics/job/j/a-b/y", "a 1\n"),
            put("/metrics/job/j/a+b/y", "a 1\n"),
            put("/metrics/job/j/__x@base64/eQ", "a 1\n"),
            delete("/metrics/job/j/1x/y"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[400, 400, 400, 400, 400, 400]);
}

#[test]
fn odd_path_components() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j/x", "a 1\n"),
            put("/metrics/job/j/x/y/z", "a 1\n"),
            post("/metrics/job/j/x", "a 1\n"),
            delete("/metrics/job/j/x"),
            // SPEC is silent on a name followed by an empty component; upstream reads it as an
            // empty value, which base64 `=` can express too, so we do the same.
            put("/metrics/job/j/x/", "a 1\n"),
            // A slash after a value starts another pair, which is incomplete.
            put("/metrics/job/j/x/y/", "a 1\n"),
            // A slash right after the job is no pair at all.
            put("/metrics/job/k/", "a 1\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[400, 400, 400, 400, 200, 400, 200]);
}

#[test]
fn missing_job() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job", "a 1\n"),
            post("/metrics/job", "a 1\n"),
            delete("/metrics/job"),
            put("/metrics/job@base64", "a 1\n"),
            put("/metrics/job@base64/", "a 1\n"),
            put("/metrics/job@base64/=", "a 1\n"),
            delete("/metrics/job@base64/="),
            put("/metrics", "a 1\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[404, 404, 404, 404, 404, 400, 400, 405]);
}

#[test]
fn body_syntax_errors() {
    let Some(out) = same(
        &[],
        &[
            put("/metrics/job/j", "a 1\n"),
            // No trailing newline.
            put("/metrics/job/j", "a 2"),
            put("/metrics/job/j", "# HELP a one\n# HELP a two\na 2\n"),
            put("/metrics/job/j", "# TYPE a gauge\n# TYPE a counter\na 2\n"),
            put("/metrics/job/j", "a 2\n# TYPE a gauge\n"),
            put("/metrics/job/j", "# TYPE a nonsense\na 2\n"),
            put("/metrics/job/j", "a x\n"),
            // Go's ParseFloat would take a hex float; the text parser does not.
            put("/metrics/job/j", "a 0x1p-2\n"),
            put("/metrics/job/j", "a{x=\"1\",x=\"2\"} 2\n"),
            put("/metrics/job/j", "1a 2\n"),
            put("/metrics/job/j", "a{1x=\"1\"} 2\n"),
            put("/metrics/job/j", "a{x=\"unterminated} 2\n"),
            post("/metrics/job/fresh", "a 2"),
        ],
    ) else {
        return;
    };
    let mut want = vec![400; 13];
    want[0] = 200;
    assert_statuses(&out, &want);
    // A body that does not parse never reaches the store: no failure time, no new group.
    let last = &out[12].exposition;
    assert_eq!(last.value("a", &JOB_J), Some("1"));
    assert_eq!(
        last.value("push_failure_time_seconds", &JOB_J),
        Some("zero")
    );
}

#[test]
fn values_and_escapes_round_trip() {
    let body = "# HELP v Help with \\\\ and \\n.\n# TYPE v gauge\n\
                v{k=\"a\"} +Inf\nv{k=\"b\"} -Inf\nv{k=\"c\"} NaN\nv{k=\"d\"} 0.00001\n\
                v{k=\"e\"} 1234567890123\nv{k=\"f\"} -0\nv{k=\"g\"} 1.5e300\n\
                v{k=\"q\\\"\\\\\\n\"} 1\n# a comment\n\n\
                u{ spaced = \"x\" , } 2\n";
    let Some(out) = same(&[], &[put("/metrics/job/j", body)]) else {
        return;
    };
    assert_statuses(&out, &[200]);
}

#[test]
fn real_encoder_bodies() {
    let proto = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
    let Some(out) = same(
        &[],
        &[
            step("PUT", "/metrics/job/text", &testdata("client-golang.prom")),
            step("PUT", "/metrics/job/pb", &testdata("client-golang.pb"))
                .header("Content-Type", proto),
            step(
                "PUT",
                "/metrics/job/node/instance/n1",
                &testdata("node-exporter.prom"),
            ),
            step("POST", "/metrics/job/nodepb", &testdata("node-exporter.pb"))
                .header("Content-Type", proto),
            // Upstream defaults to text for any other Content-Type.
            step("PUT", "/metrics/job/json", &testdata("client-golang.prom"))
                .header("Content-Type", "application/json"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200, 200, 200, 200]);
    assert!(out[4].exposition.has("node_cpu_seconds_total"));
}

#[test]
fn gzip_request_body() {
    if !util::require_tool("gzip") {
        return;
    }
    let output = std::process::Command::new("gzip")
        .arg("-c")
        .arg(util::testdata("client-golang.prom"))
        .output()
        .expect("run gzip");
    assert!(output.status.success());
    let Some(out) = same(
        &[],
        &[
            step("PUT", "/metrics/job/gz", &output.stdout).header("Content-Encoding", "gzip"),
            step("PUT", "/metrics/job/bad", b"not gzip").header("Content-Encoding", "gzip"),
        ],
    ) else {
        return;
    };
    assert_eq!(out[0].status, 200);
    assert!(out[0].exposition.has("batch_records_total"));
}

#[test]
fn routes_and_methods() {
    let Some(out) = same(
        &[],
        &[
            get("/-/healthy"),
            get("/-/ready"),
            step("POST", "/-/ready", b""),
            get("/nonexistent"),
            get("/metrics/job/j"),
            step("POST", "/metrics", b""),
            step("PUT", "/-/quit", b""),
            step("POST", "/-/quit", b""),
            get("/-/quit"),
            step("PUT", "/api/v1/admin/wipe", b""),
            get("/api/v1/status"),
            get("/api/v1/metrics"),
        ],
    ) else {
        return;
    };
    assert_statuses(
        &out,
        &[200, 200, 405, 404, 405, 405, 403, 403, 405, 404, 200, 200],
    );
}

/// A raw answer as two gateways are compared by: the status line, the header fields but
/// `Date` (a clock), `Connection` (pushgate says `close` when it closes, upstream at times
/// closes without saying so) and `Allow` (pushgate names the allowed methods on every 405, as
/// RFC 9110 asks), sorted; then the body. Bodies end at the close, as every request here is
/// followed by one.
fn compared_answer(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut fields: Vec<String> = lines
        .map(str::to_ascii_lowercase)
        .filter(|f| {
            !["date:", "connection:", "allow:"]
                .iter()
                .any(|n| f.starts_with(n))
        })
        .collect();
    fields.sort();
    format!("{status}\n{}\n\n{body}", fields.join("\n"))
}

#[test]
fn answers_match_reference_byte_for_byte() {
    if !reference_available() {
        return;
    }
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    let requests = [
        get("/-/healthy"),
        get("/-/ready"),
        "PUT /-/quit HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".to_string(),
        get("/-/quit"),
        get("/nonexistent"),
        get("/metrics/job/j"),
        "PUT /metrics/job/j HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nm\n".to_string(),
        "GET /-/healthy HTTP/1.1\r\n\r\n".to_string(),
        "GET /-/healthy HTTP/1.1\r\nHost: a b\r\n\r\n".to_string(),
        "GET /-/healthy HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n".to_string(),
        "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
        "PUT http://127.0.0.1:9/metrics/job/abs?x=1 HTTP/1.1\r\nHost: t\r\n\
         Content-Length: 4\r\n\r\nm 1\n"
            .to_string(),
        // The client ends its side before the body is whole.
        "PUT /metrics/job/short HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nm 1".to_string(),
    ];
    let candidate = Server::start(Target::under_test(), &[]);
    let reference = Server::start(Target::Reference, &[]);
    for request in &requests {
        let answer = |server: &Server| {
            let raw = util::exchange_raw(server.addr, request.as_bytes())
                .unwrap_or_else(|e| panic!("{request:?}: {e}\n{}", server.stderr()));
            compared_answer(&raw)
        };
        assert_eq!(
            answer(&candidate),
            answer(&reference),
            "{request:?}: {:?} (left) vs reference (right)",
            candidate.target
        );
    }
    // The absolute-form push landed in its group; the cut-short one changed nothing.
    let scraped = candidate.scrape();
    assert_eq!(scraped, reference.scrape());
    assert!(scraped
        .value("m", &[("instance", ""), ("job", "abs")])
        .is_some());
}

#[test]
fn admin_wipe_deletes_every_group() {
    let Some(out) = same(
        &["--web.enable-admin-api"],
        &[
            put("/metrics/job/a", "m 1\n"),
            put("/metrics/job/b/x/y", "m 2\n"),
            step("PUT", "/api/v1/admin/wipe", b""),
            put("/metrics/job/a", "m 3\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[200, 200, 202, 200]);
    assert!(out[2].exposition.samples.is_empty());
}

#[test]
fn disabled_consistency_check_answers_202() {
    let Some(out) = same(
        &["--push.disable-consistency-check"],
        &[
            put("/metrics/job/j", "a 1\n"),
            post("/metrics/job/j", "b 2\n"),
            put("/metrics/job/k/x/y", "a{z=\"1\"} 3\n"),
            // Syntax is checked before the answer.
            put("/metrics/job/j", "a 5"),
            put("/metrics/job/j/x", "a 6\n"),
        ],
    ) else {
        return;
    };
    assert_statuses(&out, &[202, 202, 202, 400, 400]);
}

// ---- Where SPEC.md deliberately differs from upstream ----

#[test]
fn timestamps_rejected_at_once_without_consistency_check() {
    // Upstream answers 202 and drops the push later (setting the failure time); pushgate checks
    // synchronously, so a bad input gets its 400 with the reason, and the failure time is set
    // as for a checked push.
    let steps = [
        put("/metrics/job/j", "a 1\n"),
        put("/metrics/job/j", "a 4 1700000000000\n"),
    ];
    differs(
        &["--push.disable-consistency-check"],
        &steps,
        |out| {
            assert_statuses(out, &[202, 202]);
            assert_eq!(out[1].exposition.value("a", &JOB_J), Some("1"));
        },
        |out| {
            assert_statuses(out, &[202, 400]);
            assert_eq!(out[1].exposition.value("a", &JOB_J), Some("1"));
            assert!(
                out[1].text.contains("must not have timestamps"),
                "{}",
                out[1].text
            );
        },
    );
}

#[test]
fn percent_encoded_slash_is_part_of_a_value() {
    // SPEC §3: components are percent-decoded after splitting, so %2F is a '/' inside the value.
    // Upstream decodes the whole path first and then finds the wrong number of components.
    differs(
        &[],
        &[
            put("/metrics/job/j/path/a%2Fb", "a 1\n"),
            put("/metrics/job/x%2Fy", "a 2\n"),
        ],
        |out| assert_statuses(out, &[400, 400]),
        |out| {
            assert_statuses(out, &[200, 200]);
            let expo = &out[1].exposition;
            assert_eq!(
                expo.value("a", &[("instance", ""), ("job", "j"), ("path", "a/b")]),
                Some("1")
            );
            assert_eq!(
                expo.value("a", &[("instance", ""), ("job", "x/y")]),
                Some("2")
            );
        },
    );
}

#[test]
fn empty_job_in_path() {
    // SPEC §3: no job at all is 404, an empty job 400. Upstream's Go mux answers with redirects
    // to the cleaned path (307 to /metrics/job, 301 to /metrics/job/x/y), which a client must
    // not follow with its body.
    differs(
        &[],
        &[
            put("/metrics/job/", "a 1\n"),
            put("/metrics/job//x/y", "a 1\n"),
        ],
        |out| assert_statuses(out, &[307, 301]),
        |out| assert_statuses(out, &[404, 400]),
    );
}

#[test]
fn job_or_repeated_name_among_key_labels() {
    // SPEC §3: `job` among the label pairs and a repeated name are 400. Upstream silently lets
    // the path's job win and the last repeated pair win.
    differs(
        &[],
        &[
            put("/metrics/job/j/job/other", "a 1\n"),
            put("/metrics/job/j/x/1/x/2", "b 1\n"),
        ],
        |out| {
            assert_statuses(out, &[200, 200]);
            let expo = &out[1].exposition;
            assert_eq!(expo.value("a", &JOB_J), Some("1"));
            assert_eq!(
                expo.value("b", &[("instance", ""), ("job", "j"), ("x", "2")]),
                Some("1")
            );
        },
        |out| {
            assert_statuses(out, &[400, 400]);
            assert!(out[1].exposition.samples.is_empty());
        },
    );
}

#[test]
fn head_on_metrics() {
    // SPEC §2: HEAD is served on the scrape path; upstream v1.5.1 routes only GET there.
    differs(
        &[],
        &[step("HEAD", "/metrics", b"")],
        |out| assert_statuses(out, &[405]),
        |out| assert_statuses(out, &[200]),
    );
}

#[test]
fn head_on_health_probes() {
    // README: HEAD is answered wherever GET is, as HTTP has it; upstream routes only GET.
    differs(
        &[],
        &[
            step("HEAD", "/-/healthy", b""),
            step("HEAD", "/-/ready", b""),
        ],
        |out| assert_statuses(out, &[405, 405]),
        |out| {
            assert_statuses(out, &[200, 200]);
            assert!(out.iter().all(|o| o.text.is_empty()));
        },
    );
}

#[test]
fn unknown_content_encoding() {
    // README: refused with 415 naming it; upstream ignores the header and parses the bytes
    // as text (here they happen to be text, so it takes them).
    differs(
        &[],
        &[put("/metrics/job/j", "a 1\n").header("Content-Encoding", "br")],
        |out| {
            assert_statuses(out, &[200]);
            assert_eq!(out[0].exposition.value("a", &JOB_J), Some("1"));
        },
        |out| {
            assert_statuses(out, &[415]);
            assert!(out[0].text.contains("\"br\""), "{}", out[0].text);
            assert!(!out[0].exposition.has("a"));
        },
    );
}

#[test]
fn disabled_check_keeps_the_scrape_servable() {
    // README: with the check off, a type conflict between groups leaves the other type's
    // series out of scrapes; upstream fails every scrape until the conflict is gone.
    let steps = [
        put("/metrics/job/a", "# TYPE t gauge\nt 1\n"),
        put("/metrics/job/b", "# TYPE t counter\nt 2\n"),
    ];
    if !reference_available() {
        return;
    }
    let upstream = Server::start(Target::Reference, &["--push.disable-consistency-check"]);
    for s in &steps {
        assert_eq!(
            upstream.request(s.method, &s.path, &[], &s.body).status,
            202
        );
    }
    let failing = (0..SETTLE_TRIES).any(|_| {
        thread::sleep(SETTLE_INTERVAL);
        upstream.get("/metrics").status == 500
    });
    assert!(failing, "upstream fails its scrapes");
    if Target::under_test() == Target::Pushgate {
        let out = run(
            Target::Pushgate,
            &["--push.disable-consistency-check"],
            &steps,
        );
        assert_statuses(&out, &[202, 202]);
        let last = &out[1].exposition;
        assert_eq!(
            last.value("t", &[("instance", ""), ("job", "b")]),
            Some("2")
        );
        assert_eq!(last.value("t", &[("instance", ""), ("job", "a")]), None);
    }
}

#[test]
fn empty_segment_between_label_pairs() {
    // README: refused with 400 and the reason; upstream redirects (301) to the cleaned path,
    // which a client's PUT does not follow, and stores nothing either way.
    let steps = [post(
        "/metrics/job/directory_cleaner/path//var/tmp",
        "a 1\n",
    )];
    differs(
        &[],
        &steps,
        |out| {
            assert_statuses(out, &[301]);
            assert!(!out[0].exposition.has("a"));
        },
        |out| {
            assert_statuses(out, &[400]);
            assert!(
                out[0].text.starts_with("empty segment in label string"),
                "{}",
                out[0].text
            );
            assert!(!out[0].exposition.has("a") && !out[0].exposition.has("push_time_seconds"));
        },
    );
}

#[test]
fn different_help_across_groups() {
    // SPEC §6: the most recently pushed HELP wins. Upstream picks whichever group its map
    // iteration meets first, so either string can appear.
    differs(
        &[],
        &[
            put("/metrics/job/h1", "# HELP h one\nh 1\n"),
            put("/metrics/job/h2", "# HELP h two\nh 2\n"),
        ],
        |out| {
            assert_statuses(out, &[200, 200]);
            let help = out[1].exposition.help.get("h").map(String::as_str);
            assert!(matches!(help, Some("one" | "two")), "{help:?}");
        },
        |out| {
            assert_statuses(out, &[200, 200]);
            assert_eq!(
                out[1].exposition.help.get("h").map(String::as_str),
                Some("two")
            );
        },
    );
}

#[test]
fn base64_value_that_is_not_utf8() {
    // Upstream answers 400 but keeps the group it created to record the failure time; that
    // group's label value is not UTF-8, so every later scrape fails with 500 until the group is
    // deleted. SPEC §4: a request rejected for its path touches nothing.
    if !reference_available() {
        return;
    }
    let path = "/metrics/job/j/v@base64/-_8"; // the bytes 0xfb 0xff
    let reference = Server::start(Target::Reference, &[]);
    assert_eq!(reference.request("PUT", path, &[], b"a 1\n").status, 400);
    assert_eq!(reference.get("/metrics").status, 500);
    if Target::under_test() == Target::Pushgate {
        let out = run(Target::Pushgate, &[], &[put(path, "a 1\n")]);
        assert_statuses(&out, &[400]);
        assert!(out[0].exposition.samples.is_empty());
    }
}

#[test]
fn exposition_parser_unescapes_and_masks() {
    // The comparisons above are only as good as this parser, so pin its reading of the tricky
    // parts: escapes, spacing, dropped families and masked timestamps.
    let text = "# HELP m A \\\\ help.\n# TYPE m gauge\n\
                m{b=\"x\\\"y\\\\z\\nw\", a=\"1\",} 1e-05 123\n\
                # TYPE go_goroutines gauge\ngo_goroutines 7\npushgateway_build_info 1\n\
                push_time_seconds{job=\"j\"} 1.7e+09\npush_failure_time_seconds{job=\"j\"} 0\n";
    let expo = Exposition::parse(text).expect("parse");
    assert_eq!(
        expo.value("m", &[("a", "1"), ("b", "x\"y\\z\nw")]),
        Some("1e-05")
    );
    assert_eq!(
        expo.value("push_time_seconds", &[("job", "j")]),
        Some("nonzero")
    );
    assert_eq!(
        expo.value("push_failure_time_seconds", &[("job", "j")]),
        Some("zero")
    );
    assert_eq!(expo.samples.len(), 3, "{}", expo.render());
    assert_eq!(expo.types.len(), 1);
    assert_eq!(expo.help.get("m").map(String::as_str), Some("A \\\\ help."));
}
