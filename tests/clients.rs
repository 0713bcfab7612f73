//! Real Prometheus software against a real gateway process:
//! - the official Python client (`push_to_gateway`, `pushadd_to_gateway` with gzip,
//!   `delete_from_gateway`, base64-encoded grouping key values) and what `/metrics` then shows;
//! - `promtool check metrics` on our exposition after a push of every metric type;
//! - a Prometheus server scraping the gateway with `honor_labels: true` and answering a query with
//!   the pushed value under the pushed `job` and grouping labels.
//!
//! The gateway is `Target::under_test()` (pushgate unless `PUSHGATE_TEST_TARGET=reference`).
//! Missing tools fail under `CI` and skip otherwise; `make deps` installs them all.

use std::process::{Command, Stdio};

use crate::util::{self, Exposition, Prometheus, Server, Target};

/// Runs one step of `tests/python/push_client.py` against `server`.
fn python_step(server: &Server, step: &str) {
    let script = util::python_script("push_client.py");
    let out = Command::new(util::python())
        .arg(&script)
        .arg(server.addr.to_string())
        .arg(step)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", util::python()));
    assert!(
        out.status.success(),
        "python step {step} failed ({}):\n{}\nserver stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
}

/// The labels every series of the Python client's main group carries.
const PY_KEY: [(&str, &str); 5] = [
    ("empty", ""),
    ("instance", ""),
    ("job", "py/batch"),
    ("path", "/var/tmp"),
    ("shard", "7"),
];

fn with_key<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut labels: Vec<(&str, &str)> = PY_KEY.to_vec();
    labels.extend_from_slice(extra);
    labels
}

fn assert_value(expo: &Exposition, name: &str, labels: &[(&str, &str)], want: &str) {
    assert_eq!(
        expo.value(name, labels),
        Some(want),
        "{name}{labels:?} in:\n{}",
        expo.render()
    );
}

#[test]
fn python_client_push_pushadd_delete() {
    let target = Target::under_test();
    if !target.available() || !util::require_python_module("prometheus_client") {
        return;
    }
    let server = Server::start(target, &[]);

    python_step(&server, "push");
    let expo = server.scrape();
    assert_value(
        &expo,
        "py_temperature_celsius",
        &with_key(&[("room", "kitchen")]),
        "21.5",
    );
    assert_value(&expo, "py_jobs_total", &with_key(&[]), "3");
    assert_value(&expo, "py_latency_seconds_count", &with_key(&[]), "2");
    assert_value(&expo, "py_latency_seconds_sum", &with_key(&[]), "1");
    assert_value(
        &expo,
        "py_size_bytes_bucket",
        &with_key(&[("le", "10")]),
        "1",
    );
    assert_value(
        &expo,
        "py_size_bytes_bucket",
        &with_key(&[("le", "100")]),
        "2",
    );
    assert_value(
        &expo,
        "py_size_bytes_bucket",
        &with_key(&[("le", "+Inf")]),
        "3",
    );
    assert_value(&expo, "py_size_bytes_sum", &with_key(&[]), "555");
    assert_value(&expo, "push_time_seconds", &with_key(&[]), "nonzero");
    assert_value(&expo, "push_failure_time_seconds", &with_key(&[]), "zero");
    for (family, kind) in [
        ("py_temperature_celsius", "gauge"),
        ("py_jobs_total", "counter"),
        ("py_latency_seconds", "summary"),
        ("py_size_bytes", "histogram"),
    ] {
        assert_eq!(
            expo.types.get(family).map(String::as_str),
            Some(kind),
            "TYPE of {family}"
        );
    }

    python_step(&server, "push-other");
    // POST replaces only the pushed families: the kitchen series goes, the counter stays.
    python_step(&server, "pushadd");
    let expo = server.scrape();
    assert_eq!(
        expo.value("py_temperature_celsius", &with_key(&[("room", "kitchen")])),
        None
    );
    assert_value(
        &expo,
        "py_temperature_celsius",
        &with_key(&[("room", "hall")]),
        "19",
    );
    assert_value(&expo, "py_extra", &with_key(&[]), "7");
    assert_value(&expo, "py_jobs_total", &with_key(&[]), "3");
    assert_value(&expo, "py_size_bytes_count", &with_key(&[]), "3");

    python_step(&server, "delete");
    let expo = server.scrape();
    let main_group_left: Vec<_> = expo
        .samples
        .iter()
        .filter(|s| s.labels.iter().any(|(n, v)| n == "path" && v == "/var/tmp"))
        .collect();
    assert!(
        main_group_left.is_empty(),
        "deleted group still exposed: {main_group_left:?}"
    );
    // The other group under the same job survives the delete.
    let other = [("instance", ""), ("job", "py/batch"), ("path", "/other")];
    assert_value(&expo, "py_extra", &other, "7");
    assert_value(&expo, "push_time_seconds", &other, "nonzero");
}

#[test]
fn promtool_accepts_exposition() {
    let target = Target::under_test();
    if !target.available() || !util::require_tool("promtool") {
        return;
    }
    let server = Server::start(target, &[]);
    let body = std::fs::read(util::testdata("client-golang.prom")).expect("read testdata");
    let resp = server.request("PUT", "/metrics/job/golang/instance/i1", &[], &body);
    assert_eq!(resp.status, 200, "push: {}", resp.text());
    let resp = server.request(
        "PUT",
        "/metrics/job@base64/L3Zhci90bXA",
        &[],
        b"# HELP up_again Extra group.\n# TYPE up_again gauge\nup_again 1\n",
    );
    assert_eq!(resp.status, 200, "push: {}", resp.text());
    let exposition = server.get("/metrics");
    assert_eq!(exposition.status, 200);

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    // promtool reads all of stdin before writing, so writing first cannot deadlock.
    std::io::Write::write_all(&mut promtool.stdin.take().expect("stdin"), &exposition.body)
        .expect("feed promtool");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}\nexposition:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        exposition.text()
    );
}

#[test]
fn prometheus_scrapes_pushed_metrics_with_honor_labels() {
    let target = Target::under_test();
    if !target.available() || !util::require_tool("prometheus") {
        return;
    }
    let gateway = Server::start(target, &[]);
    let body = b"# HELP e2e_last_success_seconds Last success.\n# TYPE e2e_last_success_seconds gauge\ne2e_last_success_seconds{job=\"overridden\"} 42.5\n";
    // zone@base64 "eu/west": a value with '/' must reach Prometheus intact.
    let resp = gateway.request(
        "PUT",
        "/metrics/job/e2e_batch/zone@base64/ZXUvd2VzdA",
        &[],
        body,
    );
    assert_eq!(resp.status, 200, "push: {}", resp.text());

    let prometheus = Prometheus::start(gateway.addr, &[]);
    // Prometheus drops empty labels, so instance="" simply disappears; honor_labels keeps the
    // pushed job instead of renaming it to exported_job.
    let query = r#"e2e_last_success_seconds{job="e2e_batch",zone="eu/west",instance=""}"#;
    let answer = prometheus.wait_for(query, |a| a.contains("\"42.5\"]"));
    assert!(answer.contains(r#""job":"e2e_batch""#), "{answer}");
    assert!(answer.contains(r#""zone":"eu/west""#), "{answer}");
    assert!(
        !answer.contains("exported_"),
        "labels were renamed: {answer}"
    );
}
