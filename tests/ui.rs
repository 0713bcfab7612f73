//! The web UI in a real browser: Debian's `chromium`, headless, driven over the DevTools
//! protocol by `tests/ui/drive.js` (node, no packages). Loads the page, sees the pushed groups,
//! expands one, filters, deletes one (the one with a hostile label value), wipes, opens the
//! status page, and checks that a pushed `<script>` never runs. Screenshots land in
//! `target/tmp/ui/`.
//!
//! Without chromium or node the test fails under CI (`CI` set) and is skipped otherwise.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use util::{require_tool, Server, Target};

/// base64url without padding, for `name@base64` URL components.
fn b64url(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn push(server: &Server, prefix: &str, method: &str, path: &str, body: &str, want: u16) {
    let resp = server.request(method, &format!("{prefix}{path}"), &[], body.as_bytes());
    assert_eq!(resp.status, want, "{method} {path}: {}", resp.text());
}

/// What the scenario in drive.js expects to find.
fn seed(server: &Server, prefix: &str) {
    push(
        server,
        prefix,
        "PUT",
        "/metrics/job/batch/instance/a",
        "# HELP latency_seconds How long it took.\n# TYPE latency_seconds histogram\n\
         latency_seconds_bucket{le=\"0.1\"} 2\nlatency_seconds_bucket{le=\"0.5\"} 5\n\
         latency_seconds_bucket{le=\"+Inf\"} 6\nlatency_seconds_sum 2.25\nlatency_seconds_count 6\n\
         # TYPE rpc_duration_seconds summary\nrpc_duration_seconds{quantile=\"0.5\"} 0.01\n\
         rpc_duration_seconds{quantile=\"0.99\"} 0.3\nrpc_duration_seconds_sum 12\n\
         rpc_duration_seconds_count 700\n# TYPE up gauge\nup{shard=\"1\"} 1\nup{shard=\"2\"} 0\n",
        200,
    );
    push(
        server,
        prefix,
        "PUT",
        "/metrics/job/batch/instance/b",
        "# TYPE up gauge\nup 1\n",
        200,
    );
    // Native histograms, whose buckets the API lists as intervals.
    let native = std::fs::read(util::testdata("client-golang.pb")).expect("testdata");
    let content_type = "application/vnd.google.protobuf; \
        proto=io.prometheus.client.MetricFamily; encoding=delimited";
    let resp = server.request(
        "POST",
        &format!("{prefix}/metrics/job/batch/instance/b"),
        &[("Content-Type", content_type)],
        &native,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let evil = "<script>document.title='pwned';window.__pwned=1</script> é";
    push(
        server,
        prefix,
        "PUT",
        &format!("/metrics/job/xss/evil@base64/{}", b64url(evil)),
        "# HELP hostile <img src=x onerror=\"window.__pwned=2\"> help\n\
         hostile{v=\"<b onmouseover=window.__pwned=3>bold</b>\"} 1\n",
        200,
    );
    push(server, prefix, "PUT", "/metrics/job/failing", "ok 1\n", 200);
    let conflicting = "# TYPE up counter\nup 1\n";
    push(
        server,
        prefix,
        "POST",
        "/metrics/job/failing",
        conflicting,
        400,
    );
    push(
        server,
        prefix,
        "PUT",
        "/metrics/job/never",
        conflicting,
        400,
    );
}

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui")
}

fn run_scenario(name: &str, args: &[&str], prefix: &str) {
    let chromium = std::env::var("PUSHGATE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    if !require_tool(&chromium) || !require_tool("node") {
        return;
    }
    let server = Server::start(Target::Pushgate, args);
    seed(&server, prefix);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/drive.js");
    let base = format!("http://{}{prefix}/", server.addr);
    let out = Command::new("node")
        .arg(&script)
        .arg(&chromium)
        .arg(&base)
        .arg(artifacts())
        .arg(name)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser scenario failed ({}):\n{stdout}\n{stderr}\nserver stderr:\n{}",
        out.status,
        server.stderr()
    );
    // What the browser did reached the server: the wipe left nothing.
    let resp = server.get(&format!("{prefix}/api/v1/metrics"));
    assert_eq!(resp.text(), r#"{"status":"success","data":[]}"#);
}

#[test]
fn ui_in_chromium() {
    run_scenario("root", &["--web.enable-admin-api"], "");
}

#[test]
fn ui_in_chromium_under_a_route_prefix() {
    run_scenario(
        "prefix",
        &["--web.enable-admin-api", "--web.route-prefix=/gw/"],
        "/gw",
    );
}
