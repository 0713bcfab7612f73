//! Black-box tests of pushgate's own surface that has no upstream counterpart to diff against:
//! flags (route prefix, external URL, telemetry path, several listeners, limits, refused
//! features), the command line, own metrics, logging of rejected pushes and graceful shutdown.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::util::{self, request, Process, Server, Target, TempDir};

fn start(args: &[&str]) -> Server {
    Server::start(Target::Pushgate, args)
}

fn push(s: &Server, path: &str, body: &str) -> util::Response {
    s.request("PUT", path, &[], body.as_bytes())
}

#[test]
fn route_prefix_moves_every_route() {
    let s = start(&["--web.route-prefix=/gw/"]);
    assert_eq!(push(&s, "/gw/metrics/job/j", "a 1\n").status, 200);
    assert_eq!(push(&s, "/metrics/job/j", "a 1\n").status, 404);
    assert_eq!(s.get("/gw/-/ready").status, 200);
    assert_eq!(s.get("/gw/-/healthy").status, 200);
    let scrape = s.get("/gw/metrics");
    assert_eq!(scrape.status, 200);
    assert!(scrape.text().contains("a{instance=\"\",job=\"j\"} 1\n"));
    assert_eq!(s.get("/metrics").status, 404);
    assert_eq!(
        s.request("DELETE", "/gw/metrics/job/j", &[], b"").status,
        202
    );
    assert!(!s.get("/gw/metrics").text().contains("job=\"j\""));
}

#[test]
fn external_url_path_is_the_default_prefix_and_route_prefix_wins() {
    let s = start(&["--web.external-url=http://gateway.example:9091/pg/"]);
    assert_eq!(push(&s, "/pg/metrics/job/j", "a 1\n").status, 200);
    assert_eq!(s.get("/pg/metrics").status, 200);
    assert_eq!(s.get("/metrics").status, 404);
    let s = start(&[
        "--web.external-url=http://gateway.example/pg",
        "--web.route-prefix=/",
    ]);
    assert_eq!(s.get("/metrics").status, 200);
}

#[test]
fn telemetry_path_moves_the_scrape() {
    let s = start(&["--web.telemetry-path=/scrape"]);
    assert_eq!(push(&s, "/metrics/job/j", "a 1\n").status, 200);
    let r = s.get("/scrape");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("a{instance=\"\",job=\"j\"} 1\n"));
    assert_eq!(s.get("/metrics").status, 404);
}

#[test]
fn head_and_content_type_of_the_scrape() {
    let s = start(&[]);
    let r = s.request("HEAD", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let r = s.get("/metrics");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let r = s.request("PATCH", "/metrics/job/j", &[], b"");
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some());
}

#[test]
fn several_listen_addresses_serve_the_same_store() {
    let dir = TempDir::new("pushgate-listen");
    let mut p = Process::spawn(
        &Target::Pushgate.program(),
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            "--web.listen-address=127.0.0.1:0".into(),
            format!("--persistence.file={}", dir.path().join("log").display()),
        ],
    );
    let a: SocketAddr = p.wait_listening(Duration::from_secs(10));
    let b: SocketAddr = p.wait_listening(Duration::from_secs(10));
    assert_ne!(a, b);
    let r = request(a, "PUT", "/metrics/job/j", &[], b"a 7\n").expect("push on a");
    assert_eq!(r.status, 200);
    let r = request(b, "GET", "/metrics", &[], b"").expect("scrape on b");
    assert!(r.text().contains("a{instance=\"\",job=\"j\"} 7\n"));
}

#[test]
fn body_limit_answers_413_and_changes_nothing() {
    let s = start(&["--push.max-body-bytes=64"]);
    assert_eq!(push(&s, "/metrics/job/j", "a 1\n").status, 200);
    let big = format!("a {}\n", "1".repeat(100));
    assert_eq!(push(&s, "/metrics/job/j", &big).status, 413);
    // The oversized request closed its connection only; the server goes on.
    assert!(s
        .get("/metrics")
        .text()
        .contains("a{instance=\"\",job=\"j\"} 1\n"));
}

#[test]
fn rejected_push_is_logged_with_reason_and_source() {
    let s = start(&[]);
    let r = push(&s, "/metrics/job/j", "a 1 1000\n");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("pushed metrics must not have timestamps"));
    let logged = (0..100).find_map(|_| {
        let log = s.stderr();
        let line = log
            .lines()
            .find(|l| l.contains("must not have timestamps"))
            .map(str::to_string);
        if line.is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        line
    });
    let line = logged.expect("a log line for the rejected push");
    assert!(line.contains("level=warn"), "{line}");
    assert!(line.contains("source=127.0.0.1:"), "{line}");
    assert!(line.contains("path=/metrics/job/j"), "{line}");
}

#[test]
fn json_logs() {
    let dir = TempDir::new("pushgate-json");
    let p = Process::spawn(
        &Target::Pushgate.program(),
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            "--log.format=json".into(),
            format!("--persistence.file={}", dir.path().join("log").display()),
        ],
    );
    let line = (0..250).find_map(|_| {
        let found = p
            .stderr()
            .lines()
            .find(|l| l.contains("listening"))
            .map(str::to_string);
        if found.is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        found
    });
    let line = line.expect("a startup line");
    assert!(
        line.starts_with('{') && line.contains("\"address\":\"127.0.0.1:"),
        "{line}"
    );
}

#[test]
fn own_metrics_count_requests_and_refuse_conflicting_types() {
    let s = start(&[]);
    assert_eq!(push(&s, "/metrics/job/j", "a 1\n").status, 200);
    assert_eq!(s.request("DELETE", "/metrics/job/j", &[], b"").status, 202);
    let text = s.get("/metrics").text();
    for want in [
        "pushgateway_http_requests_total{code=\"200\",handler=\"push\",method=\"put\"} 1\n",
        "pushgateway_http_requests_total{code=\"202\",handler=\"delete\",method=\"delete\"} 1\n",
        "# TYPE pushgateway_build_info gauge\n",
        "pushgateway_http_push_duration_seconds_count{method=\"put\"} 1\n",
        "pushgateway_http_push_size_bytes_sum{method=\"put\"} 4\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "# TYPE process_start_time_seconds gauge\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let r = push(
        &s,
        "/metrics/job/j",
        "# TYPE pushgateway_build_info counter\npushgateway_build_info 1\n",
    );
    assert_eq!(r.status, 400);
    // Same name and type as our own: merged into one family with one HELP and TYPE.
    let r = push(
        &s,
        "/metrics/job/j",
        "# TYPE process_open_fds gauge\nprocess_open_fds 3\n",
    );
    assert_eq!(r.status, 200);
    let text = s.get("/metrics").text();
    assert_eq!(text.matches("# TYPE process_open_fds gauge\n").count(), 1);
    assert!(text.contains("process_open_fds{instance=\"\",job=\"j\"} 3\n"));
}

fn pushgate(args: &[&str]) -> std::process::Output {
    Command::new(Target::Pushgate.program())
        .args(args)
        .output()
        .expect("run pushgate")
}

#[test]
fn command_line() {
    let out = pushgate(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--persistence.file"));
    for (args, flag) in [
        (&["--no-such-flag"][..], "--no-such-flag"),
        (&["--log.level=loud"], "--log.level"),
        (&["--persistence.interval=soon"], "--persistence.interval"),
    ] {
        let out = pushgate(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.lines().count() == 1, "{err}");
    }
}

/// Upstream's `--version` block, line by line: the same labels in the same columns (values
/// differ), plus the `tags:` line that current upstream releases print after them.
#[test]
fn version_prints_upstreams_block() {
    let ours = pushgate(&["--version"]);
    assert!(ours.status.success());
    let ours = String::from_utf8(ours.stdout).expect("utf-8");
    let lines: Vec<&str> = ours.lines().collect();
    let first = format!("pushgate, version {} (branch: ", env!("CARGO_PKG_VERSION"));
    assert!(lines[0].starts_with(&first), "{ours}");
    assert!(
        lines[0].contains(", revision: ") && lines[0].ends_with(')'),
        "{ours}"
    );
    assert_eq!(lines.len(), 6, "{ours}");
    assert!(
        lines[3].starts_with("  go version:       rustc1."),
        "{ours}"
    );
    assert_eq!(
        lines[4],
        format!(
            "  platform:         {}/{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        )
    );
    let features: Vec<&str> = [
        ("basic-auth", cfg!(feature = "basic-auth")),
        ("tls", cfg!(feature = "tls")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let tags = match features.join(",") {
        none if none.is_empty() => "none".to_string(),
        some => some,
    };
    assert_eq!(lines[5], format!("  tags:             {tags}"));

    let reference = Target::Reference;
    if !reference.available() {
        return;
    }
    let theirs = Command::new(reference.program())
        .arg("--version")
        .output()
        .expect("run the reference --version");
    // Go's flag library prints it on stderr in older releases, stdout in newer ones.
    let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned()
        + &String::from_utf8_lossy(&theirs.stderr);
    let label = |line: &str| line.split_once(':').map(|(l, _)| l.to_string());
    let theirs: Vec<&str> = theirs.lines().collect();
    assert!(theirs[0].starts_with("pushgateway, version "), "{theirs:?}");
    for (n, line) in theirs.iter().enumerate().skip(1) {
        assert_eq!(label(lines[n]), label(line), "line {n}: {ours}");
        let column = |l: &str| l.len() - l.split_once(':').unwrap().1.trim_start().len();
        assert_eq!(column(lines[n]), column(line), "line {n}: {ours}");
    }
}

#[test]
fn sigterm_and_quit_shut_down_gracefully() {
    let dir = TempDir::new("pushgate-stop");
    let log = format!("--persistence.file={}", dir.path().join("log").display());
    let mut p = Process::spawn(
        &Target::Pushgate.program(),
        &["--web.listen-address=127.0.0.1:0".into(), log.clone()],
    );
    p.wait_listening(Duration::from_secs(10));
    let status = p.terminate().expect("exits after SIGTERM");
    assert!(status.success(), "{status}");

    let mut p = Process::spawn(
        &Target::Pushgate.program(),
        &[
            "--web.listen-address=127.0.0.1:0".into(),
            "--web.enable-lifecycle".into(),
            log,
        ],
    );
    let addr = p.wait_listening(Duration::from_secs(10));
    let r = request(addr, "PUT", "/-/quit", &[], b"").expect("quit");
    assert_eq!(r.status, 200);
    let status = p
        .wait_exit(Duration::from_secs(10))
        .expect("exits after /-/quit");
    assert!(status.success(), "{status}");
}

#[test]
fn a_large_scrape_streams_completely() {
    let s = start(&[]);
    let body: String = (0..200).map(|i| format!("m{{i=\"{i}\"}} {i}\n")).collect();
    for g in 0..50 {
        assert_eq!(
            push(&s, &format!("/metrics/job/j/g/{g}"), &body).status,
            200
        );
    }
    let r = s.get("/metrics");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let text = r.text();
    assert_eq!(text.matches("\nm{").count(), 50 * 200);
    assert!(text.ends_with('\n'));
}

#[test]
fn build_information_names_the_checkout_and_compiler() {
    let s = start(&[]);
    let status = s.get("/api/v1/status").text();
    let scrape = s.get("/metrics").text();
    let info = scrape
        .lines()
        .find(|l| l.starts_with("pushgateway_build_info{"))
        .expect("build info");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    // Built from a checkout (as `make test` and CI build it): its commit, as upstream shows
    // the commit it was built from.
    if let Some(rev) = git(&["rev-parse", "HEAD"]) {
        assert!(
            status.contains(&format!("\"revision\":\"{rev}\"")),
            "{status}"
        );
        assert!(info.contains(&format!("revision=\"{rev}\"")), "{info}");
    }
    assert!(status.contains("\"goVersion\":\"rustc1."), "{status}");
    assert!(info.contains("goversion=\"rustc1."), "{info}");
    let date = status
        .split("\"buildDate\":\"")
        .nth(1)
        .and_then(|d| d.split('"').next())
        .expect("buildDate");
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    assert!(
        date.len() == 17
            && digits(&date[..8])
            && &date[8..9] == "-"
            && date[9..].split(':').all(digits),
        "{date}"
    );
}

#[test]
fn two_keys_of_one_label_set_are_refused() {
    let s = start(&[]);
    let timestamps = |s: &Server| {
        s.get("/metrics")
            .text()
            .lines()
            .filter(|l| {
                l.starts_with("push_time_seconds{") || l.starts_with("push_failure_time_seconds{")
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        push(&s, "/metrics/job/dj/instance@base64/=", "a 1\n").status,
        200
    );
    for (method, body) in [("PUT", "a 2\n"), ("POST", "a 2\n"), ("PUT", "a 1 1\n")] {
        let r = s.request(method, "/metrics/job/dj", &[], body.as_bytes());
        assert_eq!(r.status, 400, "{method} {body:?}");
        assert_eq!(
            r.text(),
            "the grouping key {job=\"dj\"} exposes the same labels as the existing group \
             {instance=\"\",job=\"dj\"} (a group without an instance label shows \
             instance=\"\"): push to that group, or delete it first\n"
        );
    }
    // One pair of timestamps, and no failure recorded for anyone.
    let ts = timestamps(&s);
    assert_eq!(ts.len(), 2, "{ts:?}");
    assert_eq!(
        ts[0],
        "push_failure_time_seconds{instance=\"\",job=\"dj\"} 0"
    );
    assert!(
        ts[1].starts_with("push_time_seconds{instance=\"\",job=\"dj\"} "),
        "{ts:?}"
    );
    assert_eq!(s.get("/metrics").text().matches("\na{").count(), 1);
    // The other way round too; a key with another instance is another label set.
    assert_eq!(
        s.request("DELETE", "/metrics/job/dj/instance@base64/=", &[], b"")
            .status,
        202
    );
    assert_eq!(push(&s, "/metrics/job/dj", "a 3\n").status, 200);
    assert_eq!(
        push(&s, "/metrics/job/dj/instance@base64/=", "a 4\n").status,
        400
    );
    assert_eq!(push(&s, "/metrics/job/dj/instance/i", "b 4\n").status, 200);
    assert_eq!(timestamps(&s).len(), 4);
}

/// Runs `program args` as systemd's socket activation would: a listening socket on `port` as
/// descriptor 3, `LISTEN_FDS=1` and `LISTEN_PID` naming the process itself.
fn socket_activated(port: u16, program: &std::path::Path, args: &[&str]) -> Process {
    let script = "import os, socket, sys\n\
        s = socket.socket()\n\
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        s.bind(('127.0.0.1', int(sys.argv[1])))\n\
        s.listen(64)\n\
        os.dup2(s.fileno(), 3)\n\
        os.set_inheritable(3, True)\n\
        os.environ['LISTEN_FDS'] = '1'\n\
        os.environ['LISTEN_PID'] = str(os.getpid())\n\
        os.execv(sys.argv[2], sys.argv[2:])\n";
    let mut all = vec![
        "-c".to_string(),
        script.to_string(),
        port.to_string(),
        program.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    Process::spawn(std::path::Path::new("python3"), &all)
}

#[test]
fn serves_on_the_socket_systemd_passes() {
    let dir = TempDir::new("pushgate-systemd");
    let port = util::free_port();
    let persistence = format!("--persistence.file={}", dir.path().join("p").display());
    let mut p = socket_activated(
        port,
        &Target::Pushgate.program(),
        &[
            "--web.systemd-socket",
            "--web.listen-address=127.0.0.1:1",
            &persistence,
        ],
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert!(p.wait_http_ok(addr, "/-/ready"), "{}", p.stderr());
    let r = request(addr, "PUT", "/metrics/job/sd", &[], b"a 1\n").unwrap();
    assert_eq!(r.status, 200);
    let status = request(addr, "GET", "/api/v1/status", &[], b"")
        .unwrap()
        .text();
    assert!(
        status.contains("\"web.systemd-socket\":\"true\""),
        "{status}"
    );
    let scrape = request(addr, "GET", "/metrics", &[], b"").unwrap().text();
    assert!(scrape.contains("a{instance=\"\",job=\"sd\"} 1\n"));
    // Without sockets from systemd it says so and stops.
    let args = ["--web.systemd-socket".to_string(), persistence.clone()];
    let mut alone = Process::spawn(&Target::Pushgate.program(), &args);
    assert!(alone
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| !s.success()));
    let said = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        alone.stderr().contains("no sockets passed by systemd")
    });
    assert!(said, "{}", alone.stderr());
}
