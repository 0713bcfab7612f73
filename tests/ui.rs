//! The web UI, as a client without script gets it (plain HTTP: the server's page lists the
//! first page of groups and the status tables) and in a real browser: Debian's `chromium`,
//! headless, driven over the DevTools protocol by `tests/ui/drive.js` (node, no packages).
//! The browser first loads the page with JavaScript off and opens a group; then, with it on,
//! sees the script's list take over, expands a group, filters, deletes one (the one with a
//! hostile label value), pages through more groups than a page holds, wipes, opens the status
//! page, and checks that a pushed `<script>` never runs. Screenshots land in `target/tmp/ui/`.
//!
//! Without chromium or node the browser tests fail under CI (`CI` set) and are skipped
//! otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, base64url, require_tool, Server, Target};

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
        &format!("/metrics/job/xss/evil@base64/{}", base64url(evil)),
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

/// The value of `"name":"..."` in a JSON document (no escapes in it).
fn json_string<'a>(doc: &'a str, name: &str) -> &'a str {
    let from = doc.find(&format!("\"{name}\":\"")).expect(name) + name.len() + 4;
    let len = doc[from..].find('"').expect(name);
    &doc[from..from + len]
}

#[test]
fn page_lists_groups_for_clients_without_script() {
    let server = Server::start(Target::Pushgate, &[]);
    seed(&server, "");
    let resp = server.get("/");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let csp = resp.header("Content-Security-Policy").unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let html = resp.text();
    for job in ["batch", "failing", "never", "xss"] {
        let chip = format!(r#"<span class="ln">job</span>=<span class="lv">"{job}"</span>"#);
        assert!(html.contains(&chip), "job {job} not listed:\n{html}");
    }
    // What was pushed is text: the label value, a HELP text and a series' label value.
    for escaped in [
        "&lt;script&gt;document.title=&#39;pwned&#39;;window.__pwned=1&lt;/script&gt; é",
        "&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt; help",
        "&lt;b onmouseover=window.__pwned=3&gt;bold&lt;/b&gt;",
    ] {
        assert!(html.contains(escaped), "{escaped} not in the page:\n{html}");
    }
    assert_eq!(html.matches("<script").count(), 1, "only the page's own");
    for raw in ["<img", "<b onmouseover", "pwned=1</script>"] {
        assert!(!html.contains(raw), "{raw} in the page");
    }
    // A group's families, series and push time.
    for text in [
        r#"<span class="fname">latency_seconds</span>"#,
        r#"<span class="help">How long it took.</span>"#,
        "count 700 · sum 12",
        r#"<span class="ln">shard</span>=<span class="lv">"2"</span>"#,
        "last push failed",
        "pushed <time datetime=",
    ] {
        assert!(html.contains(text), "{text} not in the page:\n{html}");
    }
}

#[test]
fn page_lists_only_the_first_page_of_groups() {
    let server = Server::start(Target::Pushgate, &[]);
    // Pushed in reverse: the page is in job order, as the JSON API's first page.
    for i in (0..51).rev() {
        let path = format!("/metrics/job/j{i:02}");
        push(&server, "", "PUT", &path, "m 1\n", 200);
    }
    let html = server.get("/").text();
    let api = server.get("/api/v1/metrics?offset=0&limit=50").text();
    let mut last = 0;
    for i in 0..50 {
        let job = format!(r#""j{i:02}""#);
        let at = html
            .find(&job)
            .unwrap_or_else(|| panic!("{job} not listed"));
        assert!(at > last, "{job} out of order");
        last = at;
        assert!(api.contains(&format!(r#""job":{job}"#)));
    }
    assert!(!html.contains(r#""j50""#));
    assert!(html.contains("1–50 of 51 groups · page 1 of 2"));
}

#[test]
fn status_page_for_clients_without_script() {
    let server = Server::start(Target::Pushgate, &["--web.enable-admin-api"]);
    let html = server.get("/status").text();
    let version = env!("CARGO_PKG_VERSION");
    let status = server.get("/api/v1/status").text();
    let started = json_string(&status, "start_time");
    for text in [
        "<title>pushgate · status</title>".to_string(),
        format!("<tr><th>version</th><td>{version}</td></tr>"),
        "<tr><th>--web.enable-admin-api</th><td>true</td></tr>".to_string(),
        format!(r#"<tr><th>started</th><td><time datetime="{started}">"#),
        r#"<span class="top-info" id="summary">0 groups</span>"#.to_string(),
    ] {
        assert!(html.contains(&text), "{text} not in the page:\n{html}");
    }
}
