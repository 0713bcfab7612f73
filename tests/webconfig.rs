//! `--web.config.file` from the outside: files refused at start with their reason, configured
//! response headers, and (built with `--features basic-auth`) basic auth on every route,
//! compared with the reference Pushgateway when it is installed.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[cfg(feature = "basic-auth")]
use crate::util::basic_auth;
use crate::util::{self, free_port, Process, Server, Target, TempDir};

/// A web configuration file in its own directory, removed with it.
struct WebFile {
    dir: TempDir,
}

impl WebFile {
    fn new(text: &str) -> WebFile {
        let dir = TempDir::new("pushgate-webconfig");
        std::fs::write(dir.path().join("web.yml"), text).expect("write web config");
        WebFile { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("web.yml")
    }

    fn flag(&self) -> String {
        format!("--web.config.file={}", self.path().display())
    }
}

/// Runs pushgate with `file`, expecting it to refuse to start; returns its stderr.
fn refused(file: &WebFile) -> String {
    let dir = TempDir::new("pushgate-webconfig-refused");
    let out = Command::new(Target::Pushgate.program())
        .args([
            "--web.listen-address=127.0.0.1:0".to_string(),
            format!("--persistence.file={}", dir.path().join("p").display()),
            file.flag(),
        ])
        .output()
        .expect("run pushgate");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "started with a bad file: {stderr}");
    assert!(!stderr.contains("msg=listening"), "{stderr}");
    stderr
}

/// Files refused at start, with what the refusal must say.
const BAD_FILES: [(&str, &str); 7] = [
    (
        "tls_server_config:\n  cert_filse: x\n",
        "line 2: unknown key \\\"cert_filse\\\"",
    ),
    ("junk\n", "line 1: expected `key: value`"),
    ("basic_auth_users:\n  john: doe\n", "not a bcrypt hash"),
    (
        "http_server_config:\n  headers:\n    Content-Type: x\n",
        "cannot be configured",
    ),
    ("tls_server_config:\n  cert_file: c\n", "missing key_file"),
    (
        "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS11\n",
        "rustls",
    ),
    // Well-formed, but the certificate is not there (upstream fails to read it too); a build
    // without TLS refuses the file before looking.
    (
        "tls_server_config:\n  cert_file: c\n  key_file: k\n",
        if cfg!(feature = "tls") {
            "No such file"
        } else {
            "--features tls"
        },
    ),
];

#[test]
fn bad_files_refuse_to_start_with_the_reason() {
    for (text, want) in BAD_FILES {
        let file = WebFile::new(text);
        let stderr = refused(&file);
        assert!(stderr.contains("--web.config.file"), "{text:?}: {stderr}");
        assert!(stderr.contains(want), "{text:?}: {stderr}");
    }
    let missing = WebFile::new("");
    std::fs::remove_file(missing.path()).unwrap();
    assert!(refused(&missing).contains("No such file"));
}

/// Upstream stops on the same files too, though only once it listens, and with status 0.
#[test]
fn the_reference_refuses_the_same_files() {
    if !Target::Reference.available() {
        return;
    }
    for (text, _) in BAD_FILES {
        let file = WebFile::new(text);
        let dir = TempDir::new("pushgate-webconfig-reference");
        let mut process = Process::spawn(
            &Target::Reference.program(),
            &[
                format!("--web.listen-address=127.0.0.1:{}", free_port()),
                format!("--persistence.file={}", dir.path().join("p").display()),
                file.flag(),
            ],
        );
        let status = process.wait_exit(Duration::from_secs(10));
        assert!(status.is_some(), "{text:?}: the reference kept running");
        // Its stderr is read by another thread, which may not have caught up with the exit.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !process.stderr().contains("err=") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(process.stderr().contains("err="), "{}", process.stderr());
    }
}

#[cfg(not(feature = "basic-auth"))]
#[test]
fn basic_auth_needs_the_feature() {
    let file = WebFile::new(
        "basic_auth_users:\n  a: $2y$10$Hy4u1Hl0uqRVtm4QBlXSROt2ztx6wuY9qT0vBxmfA7uqOx5rZW.6e\n",
    );
    let stderr = refused(&file);
    assert!(stderr.contains("--features basic-auth"), "{stderr}");
}

const HEADERS: &str = "http_server_config:
  http2: false
  headers:
    X-Frame-Options: sameorigin
    Strict-Transport-Security: max-age=60
    Content-Security-Policy: \"default-src 'self'\"
";

#[test]
fn headers_go_on_every_response() {
    let file = WebFile::new(HEADERS);
    let server = Server::start(Target::Pushgate, &[&file.flag()]);
    for (method, path, body, status) in [
        ("GET", "/-/healthy", "", 200),
        ("PUT", "/metrics/job/j", "m 1\n", 200),
        ("GET", "/metrics", "", 200),
        ("GET", "/api/v1/status", "", 200),
        ("GET", "/nope", "", 404),
        ("PUT", "/metrics/job/j", "bad bad bad\n", 400),
    ] {
        let resp = server.request(method, path, &[], body.as_bytes());
        assert_eq!(resp.status, status, "{method} {path}: {}", resp.text());
        assert_eq!(resp.header("X-Frame-Options"), Some("sameorigin"), "{path}");
        assert_eq!(resp.header("Strict-Transport-Security"), Some("max-age=60"));
        assert_eq!(
            resp.header("Content-Security-Policy"),
            Some("default-src 'self'")
        );
    }
    // The UI keeps its own, stricter, framing and script policy.
    let ui = server.get("/");
    assert_eq!(ui.status, 200);
    assert_eq!(ui.header("X-Frame-Options"), Some("DENY"));
    assert!(ui
        .header("Content-Security-Policy")
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(ui.header("Strict-Transport-Security"), Some("max-age=60"));
}

#[test]
fn an_empty_file_asks_for_nothing() {
    let file = WebFile::new("# nothing to see\n");
    let server = Server::start(Target::Pushgate, &[&file.flag()]);
    let resp = server.get("/-/healthy");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("X-Frame-Options"), None);
}

/// Requests over every kind of route, each with the status it gets once authenticated.
#[cfg(feature = "basic-auth")]
const ROUTES: [(&str, &str, &str, u16); 9] = [
    ("PUT", "/metrics/job/j", "m 1\n", 200),
    ("POST", "/metrics/job/j/i/x", "m 2\n", 200),
    ("GET", "/metrics", "", 200),
    ("GET", "/api/v1/status", "", 200),
    ("GET", "/api/v1/metrics", "", 200),
    ("GET", "/", "", 200),
    ("GET", "/-/healthy", "", 200),
    ("GET", "/-/ready", "", 200),
    ("DELETE", "/metrics/job/j/i/x", "", 202),
];

#[cfg(feature = "basic-auth")]
fn users_file() -> WebFile {
    // Cost 4 keeps uncached checks fast even in a debug build.
    let alice = bcrypt::hash("wonderland", 4).unwrap();
    let bob = bcrypt::hash("builder", 4).unwrap();
    WebFile::new(&format!(
        "{HEADERS}basic_auth_users:\n  alice: {alice}\n  \"bob\": '{bob}'\n"
    ))
}

/// Status and `WWW-Authenticate` of every route under each set of credentials.
#[cfg(feature = "basic-auth")]
fn statuses(server: &Server) -> Vec<String> {
    let right = basic_auth("alice", "wonderland");
    let credentials = [
        None,
        Some(basic_auth("alice", "builder")),
        Some(basic_auth("carol", "wonderland")),
        Some("Basic !!!".to_string()),
        Some("Bearer x".to_string()),
        Some(basic_auth("bob", "builder")),
        // Twice: the second is answered from the cache, with the same verdict.
        Some(right.clone()),
        Some(right),
    ];
    let mut out = Vec::new();
    for authorization in &credentials {
        for (method, path, body, _) in ROUTES {
            let headers: Vec<(&str, &str)> = authorization
                .iter()
                .map(|a| ("Authorization", a.as_str()))
                .collect();
            let resp = server.request(method, path, &headers, body.as_bytes());
            let hsts = resp.header("Strict-Transport-Security");
            assert_eq!(hsts, Some("max-age=60"), "{path}");
            out.push(format!(
                "{authorization:?} {method} {path}: {} {:?}",
                resp.status,
                resp.header("WWW-Authenticate")
            ));
        }
    }
    out
}

#[cfg(feature = "basic-auth")]
#[test]
fn basic_auth_guards_every_route() {
    let file = users_file();
    let right = basic_auth("alice", "wonderland");
    let server = Server::start_with(
        Target::Pushgate,
        &[&file.flag()],
        &[("Authorization", &right)],
    );
    for (method, path, body, status) in ROUTES {
        let resp = server.request(method, path, &[], body.as_bytes());
        assert_eq!(resp.status, 401, "{method} {path}");
        assert_eq!(resp.header("WWW-Authenticate"), Some("Basic"));
        assert_eq!(resp.text().lines().count(), 1, "{}", resp.text());
        let resp = server.request(method, path, &[("Authorization", &right)], body.as_bytes());
        assert_eq!(resp.status, status, "{method} {path}: {}", resp.text());
        assert_eq!(resp.header("WWW-Authenticate"), None);
    }
    let statuses = statuses(&server);
    let refused = statuses
        .iter()
        .filter(|s| s.ends_with("401 Some(\"Basic\")"));
    assert_eq!(refused.count(), 5 * ROUTES.len(), "{statuses:#?}");
    let passed = statuses.iter().filter(|s| s.ends_with(" None"));
    assert_eq!(passed.count(), 3 * ROUTES.len(), "{statuses:#?}");
}

#[cfg(feature = "basic-auth")]
#[test]
fn basic_auth_matches_the_reference() {
    if !Target::Reference.available() {
        return;
    }
    let file = users_file();
    let right = basic_auth("alice", "wonderland");
    let auth = [("Authorization", right.as_str())];
    let ours = Server::start_with(Target::Pushgate, &[&file.flag()], &auth);
    let theirs = Server::start_with(Target::Reference, &[&file.flag()], &auth);
    let differ: Vec<_> = statuses(&ours)
        .into_iter()
        .zip(statuses(&theirs))
        .filter(|(a, b)| a != b)
        .collect();
    assert!(differ.is_empty(), "pushgate vs reference: {differ:#?}");
}

/// A changed file applies without a restart, as upstream reads it for every request; a
/// broken one is refused with a log line and the previous one stays.
#[cfg(feature = "basic-auth")]
#[test]
fn a_changed_file_applies_to_the_requests_that_follow() {
    let file = users_file();
    let alice = basic_auth("alice", "wonderland");
    let server = Server::start_with(
        Target::Pushgate,
        &[&file.flag()],
        &[("Authorization", &alice)],
    );
    let status = |authorization: &str| {
        server
            .request("GET", "/metrics", &[("Authorization", authorization)], b"")
            .status
    };
    // Waits, boundedly, until `done`.
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "never {what}:\n{}",
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(status(&alice), 200);
    let carol = basic_auth("carol", "secret");
    let hash = bcrypt::hash("secret", 4).unwrap();
    std::fs::write(file.path(), format!("basic_auth_users:\n  carol: {hash}\n")).unwrap();
    until("carol let in", &|| status(&carol) == 200);
    assert_eq!(status(&alice), 401);
    // The log line is collected from the server's stderr by a thread of its own.
    until("logged the change", &|| {
        server
            .stderr()
            .contains("applied the changed web configuration file")
    });
    std::fs::write(file.path(), "basic_auth_users: [\n").unwrap();
    until("the broken file refused", &|| {
        server
            .stderr()
            .contains("not applying the changed web configuration file")
    });
    assert_eq!(status(&carol), 200);
}

#[test]
fn rate_limit_refuses_past_the_bucket() {
    let file = WebFile::new(
        "rate_limit:\n  interval: 500ms\n  burst: 3\nhttp_server_config:\n  headers:\n    \
         X-Frame-Options: sameorigin\n",
    );
    let server = Server::start(Target::Pushgate, &[&file.flag()]);
    // The readiness check took a token or more: the rest go, then 429.
    let answers: Vec<util::Response> = (0..4).map(|_| server.get("/-/healthy")).collect();
    let refused = answers
        .iter()
        .position(|r| r.status == 429)
        .expect("refused within the burst and one more");
    assert!(answers[..refused].iter().all(|r| r.status == 200));
    let r = &answers[refused];
    assert_eq!(r.text(), "Too Many Requests\n");
    // Refused before anything else, as upstream: not even the configured headers.
    assert_eq!(r.header("X-Frame-Options"), None);
    // A token comes back each interval.
    std::thread::sleep(std::time::Duration::from_millis(600));
    let scrape = server.get("/metrics");
    assert_eq!(scrape.status, 200);
    assert_eq!(scrape.header("X-Frame-Options"), Some("sameorigin"));
    let refusals = answers.iter().filter(|r| r.status == 429).count();
    assert!(
        scrape.text().contains(&format!(
            "\npushgate_http_rate_limited_requests_total {refusals}\n"
        )),
        "{}",
        scrape.text()
    );
}
