//! Real Prometheus software against a real gateway process:
//! - the official Python client (`push_to_gateway`, `pushadd_to_gateway` with gzip,
//!   `delete_from_gateway`, base64-encoded grouping key values) and what `/metrics` then shows;
//! - `promtool check metrics` on our exposition after a push of every metric type;
//! - a Prometheus server scraping the gateway with `honor_labels: true` and answering a query with
//!   the pushed value under the pushed `job` and grouping labels.
//!
//! The gateway is `Target::under_test()` (pushgate unless `PUSHGATE_TEST_TARGET=reference`).
//! Missing tools fail under `CI` and skip otherwise; `make deps` installs them all.

mod util;

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use util::{Exposition, Process, Server, Target, TempDir};

/// The interpreter with `prometheus_client`: `make test` points this at the project's venv.
fn python() -> String {
    std::env::var("PUSHGATE_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs one step of `tests/python/push_client.py` against `server`.
fn python_step(server: &Server, step: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/push_client.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(server.addr.to_string())
        .arg(step)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python()));
    assert!(
        out.status.success(),
        "python step {step} failed ({}):\n{}\nserver stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
}

/// Whether the interpreter can import the client; same CI rule as `util::require_tool`.
fn require_python_client() -> bool {
    if !util::require_tool(&python()) {
        return false;
    }
    let ok = Command::new(python())
        .args(["-c", "import prometheus_client"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || !util::in_ci(),
        "{} cannot import prometheus_client; run `make deps`",
        python()
    );
    if !ok {
        eprintln!(
            "SKIPPED: {} cannot import prometheus_client (run `make deps`)",
            python()
        );
    }
    ok
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
    if !target.available() || !require_python_client() {
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
    let body = std::fs::read(util::shared_testdata("client-golang.prom")).expect("read testdata");
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

/// How long Prometheus gets to scrape the push and answer the query.
const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(30);

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

    let prometheus = Prometheus::start(gateway.addr);
    // Prometheus drops empty labels, so instance="" simply disappears; honor_labels keeps the
    // pushed job instead of renaming it to exported_job.
    let query = r#"e2e_last_success_seconds{job="e2e_batch",zone="eu/west",instance=""}"#;
    let path = format!("/api/v1/query?query={}", util::percent_encode(query));
    let deadline = Instant::now() + PROMETHEUS_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(resp) = util::request(prometheus.addr, "GET", &path, &[], b"") {
            last = resp.text();
            if resp.status == 200 && last.contains("\"42.5\"]") {
                assert!(last.contains(r#""job":"e2e_batch""#), "{last}");
                assert!(last.contains(r#""zone":"eu/west""#), "{last}");
                assert!(!last.contains("exported_"), "labels were renamed: {last}");
                return;
            }
        }
        thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "Prometheus did not return the pushed sample within {PROMETHEUS_TIMEOUT:?}; last answer: {last}\n\
         targets: {}\nprometheus stderr:\n{}",
        util::request(prometheus.addr, "GET", "/api/v1/targets", &[], b"")
            .map(|r| r.text())
            .unwrap_or_default(),
        prometheus.process.stderr()
    );
}

/// A Prometheus server on a loopback port, scraping one gateway every second.
struct Prometheus {
    addr: std::net::SocketAddr,
    // Field order matters: the process stops before its directory is removed.
    process: Process,
    _dir: TempDir,
}

impl Prometheus {
    fn start(gateway: std::net::SocketAddr) -> Prometheus {
        let dir = TempDir::new("pushgate-prometheus");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n    \
                 static_configs:\n      - targets: ['{gateway}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let storage = dir.path().join("data");
        // Prometheus cannot report a port it picked, so pick one, retry if it is taken meanwhile,
        // and check that whoever answers is ours by its storage path.
        for _ in 0..5 {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], util::free_port()));
            let mut process = Process::spawn(
                Path::new("prometheus"),
                &[
                    format!("--config.file={}", config.display()),
                    format!("--storage.tsdb.path={}", storage.display()),
                    format!("--web.listen-address={addr}"),
                    "--log.level=warn".to_string(),
                ],
            );
            if process.wait_http_ok(addr, "/-/ready")
                && util::serves_flag(addr, "/api/v1/status/flags", &storage)
            {
                return Prometheus {
                    addr,
                    process,
                    _dir: dir,
                };
            }
        }
        panic!("prometheus did not come up on 5 free ports");
    }
}
