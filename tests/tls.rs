//! HTTPS end to end (feature `tls`): the real application behind a TLS listener, with
//! certificates made by the `openssl` CLI, spoken to by curl, Python's `ssl`, `openssl s_client`
//! and a rustls client of the test's own where timing or the close matters.
#![cfg(feature = "tls")]

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pushgate::app::App;
use pushgate::config::{Config, LogFormat, LogLevel};
use pushgate::log::Logger;
use pushgate::server::{Server, ServerConfig};
use pushgate::service::{Request, Response, Service};
use pushgate::store::Store;
use pushgate::webconfig::{ClientAuth, TlsConfig, TlsVersion};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use util::{parse_response, python, require_python_module, require_tool, TempDir};

/// Bound on every wait, so a broken server fails a test instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The server's first-request timeout, which bounds a TLS handshake.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_millis(800);

/// Test certificates: a CA with a server certificate for 127.0.0.1 and a client certificate,
/// and a client certificate from another CA.
struct Pki {
    dir: TempDir,
}

impl Pki {
    /// None (the test skips) without the `openssl` CLI.
    fn new() -> Option<Pki> {
        if !require_tool("openssl") {
            return None;
        }
        let pki = Pki {
            dir: TempDir::new("pushgate-tls"),
        };
        pki.ca("ca");
        pki.leaf(
            "server",
            "ca",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        );
        pki.leaf("client", "ca", "extendedKeyUsage=clientAuth");
        pki.ca("other-ca");
        pki.leaf("stranger", "other-ca", "extendedKeyUsage=clientAuth");
        Some(pki)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self, name: &str) {
        let dir = self.dir.path().display();
        openssl(&format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
             -subj /CN={name} -keyout {dir}/{name}.key -out {dir}/{name}.crt"
        ));
    }

    fn leaf(&self, name: &str, ca: &str, extensions: &str) {
        let dir = self.dir.path().display();
        let ext = format!("basicConstraints=CA:FALSE\n{extensions}\n");
        std::fs::write(self.path(&format!("{name}.ext")), ext).unwrap();
        openssl(&format!(
            "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN={name} \
             -keyout {dir}/{name}.key -out {dir}/{name}.csr"
        ));
        openssl(&format!(
            "x509 -req -days 2 -CAcreateserial -in {dir}/{name}.csr -CA {dir}/{ca}.crt \
             -CAkey {dir}/{ca}.key -extfile {dir}/{name}.ext -out {dir}/{name}.crt"
        ));
    }

    /// A certificate and key to present as a client.
    fn identity(&self, name: &str) -> (PathBuf, PathBuf) {
        (
            self.path(&format!("{name}.crt")),
            self.path(&format!("{name}.key")),
        )
    }

    fn config(&self) -> TlsConfig {
        TlsConfig {
            cert_file: self.path("server.crt"),
            key_file: self.path("server.key"),
            client_auth: ClientAuth::NoClientCert,
            client_ca_file: None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
        }
    }
}

/// Runs `openssl` with whitespace-separated `args`.
fn openssl(args: &str) {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The application, with TLS failures the server reports kept for the test to look at.
struct Recording {
    app: App,
    tls_failures: Arc<Mutex<Vec<String>>>,
}

impl Service for Recording {
    type Stream = <App as Service>::Stream;

    fn handle(&mut self, req: &Request<'_>) -> Response<Self::Stream> {
        self.app.handle(req)
    }

    fn fill(&mut self, stream: &mut Self::Stream, out: &mut Vec<u8>, want: usize) -> bool {
        self.app.fill(stream, out, want)
    }

    fn turn(&mut self, now: Instant) -> bool {
        self.app.turn(now)
    }

    fn committed(&mut self) -> bool {
        self.app.committed()
    }

    fn busy(&self) -> bool {
        self.app.busy()
    }

    fn rejected(&mut self, remote: SocketAddr, status: u16, reason: &str) {
        self.app.rejected(remote, status, reason);
    }

    fn tls_failed(&mut self, _remote: SocketAddr, reason: &str) {
        self.tls_failures.lock().unwrap().push(reason.to_string());
    }
}

struct Gateway {
    addr: SocketAddr,
    /// What clients trust the server by.
    ca: PathBuf,
    /// A client certificate every mode accepts, for the test's own requests.
    identity: (PathBuf, PathBuf),
    url: String,
    tls_failures: Arc<Mutex<Vec<String>>>,
    thread: JoinHandle<()>,
}

impl Gateway {
    fn start(pki: &Pki, tls: &TlsConfig) -> Gateway {
        let cfg = ServerConfig {
            first_request_timeout: FIRST_REQUEST_TIMEOUT,
            handle_signals: false,
            tls: Some(pushgate::tls::server_config(tls).expect("TLS configuration")),
            ..ServerConfig::default()
        };
        let mut server = Server::bind(&["127.0.0.1:0".to_string()], cfg).unwrap();
        let addr = server.local_addrs()[0];
        let app_cfg = Config {
            enable_lifecycle: true,
            ..Config::default()
        };
        let log = Logger::new(LogLevel::Error, LogFormat::Logfmt);
        let tls_failures = Arc::new(Mutex::new(Vec::new()));
        let mut svc = Recording {
            app: App::new(app_cfg, log, Store::new(), None),
            tls_failures: Arc::clone(&tls_failures),
        };
        let thread = thread::spawn(move || server.run(&mut svc).unwrap());
        Gateway {
            addr,
            ca: pki.path("ca.crt"),
            identity: pki.identity("client"),
            url: format!("https://127.0.0.1:{}", addr.port()),
            tls_failures,
            thread,
        }
    }

    /// Waits until the server reported a TLS failure containing `what`.
    fn expect_failure(&self, what: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !self
            .tls_failures
            .lock()
            .unwrap()
            .iter()
            .any(|f| f.contains(what))
        {
            assert!(
                Instant::now() < deadline,
                "no TLS failure with {what:?}; got {:?}",
                self.tls_failures.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(self) {
        let mut conn = self.connect();
        let (status, _) = exchange(&mut conn, "PUT", "/-/quit", b"");
        assert_eq!(status, 200);
        let deadline = Instant::now() + TIMEOUT;
        while !self.thread.is_finished() {
            assert!(Instant::now() < deadline, "server did not stop");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A TLS connection from the test's own client.
    fn connect(&self) -> TlsStream {
        let cfg = client_config(&self.ca, None, Some(self.identity.clone()));
        connect(self.addr, &cfg).unwrap()
    }

    /// curl trusting the server, with `args` before the URL of `path`.
    fn curl(&self, args: &[&str], path: &str) -> (i32, u16, String) {
        let ca = self.ca.display().to_string();
        let url = format!("{}{path}", self.url);
        let all: Vec<&str> = ["--cacert", &ca]
            .into_iter()
            .chain(args.iter().copied())
            .chain([url.as_str()])
            .collect();
        curl(&all)
    }
}

/// `curl` with a bounded run time; returns its exit code, the HTTP status (0 if none) and
/// the body.
fn curl(args: &[&str]) -> (i32, u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        code.trim().parse().unwrap_or(0),
        body.to_string(),
    )
}

/// A rustls client trusting `ca`, offering `versions` (all if None) and `identity`
/// (a certificate and key file) if asked for one.
fn client_config(
    ca: &std::path::Path,
    versions: Option<&[&'static rustls::SupportedProtocolVersion]>,
    identity: Option<(PathBuf, PathBuf)>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions.unwrap_or(rustls::ALL_VERSIONS))
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(cfg)
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(addr: SocketAddr, cfg: &Arc<rustls::ClientConfig>) -> std::io::Result<TlsStream> {
    let sock = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    sock.set_read_timeout(Some(TIMEOUT))?;
    sock.set_write_timeout(Some(TIMEOUT))?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(cfg), name).unwrap();
    Ok(rustls::StreamOwned::new(conn, sock))
}

/// One keep-alive HTTP/1.1 exchange on an open TLS stream.
fn exchange(conn: &mut TlsStream, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(&[head.as_bytes(), body].concat()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        if let Ok(resp) = parse_response(&raw, method == "HEAD") {
            return (resp.status, resp.body);
        }
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed mid-response");
        raw.extend_from_slice(&buf[..n]);
    }
}

/// Reads until the peer closes; panics if that takes longer than [`TIMEOUT`].
fn wait_closed(sock: &mut TcpStream) {
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("connection not closed: {e}"),
        }
    }
}

#[test]
fn push_and_scrape_with_curl_and_python() {
    let Some(pki) = Pki::new() else { return };
    if !require_tool("curl") {
        return;
    }
    let gw = Gateway::start(&pki, &pki.config());
    let push = ["-X", "PUT", "--data-binary", "curl_metric 1\n"];
    let (code, status, body) = gw.curl(&push, "/metrics/job/curl");
    assert_eq!((code, status), (0, 200), "{body}");
    let (_, status, body) = gw.curl(&[], "/metrics");
    assert_eq!(status, 200);
    assert!(
        body.contains("curl_metric{instance=\"\",job=\"curl\"} 1"),
        "{body}"
    );

    if require_python_module("ssl") {
        let script = r#"
import ssl, sys, urllib.request
ca, url = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
push = urllib.request.Request(url + "/metrics/job/python", data=b"python_metric 2\n", method="PUT")
with urllib.request.urlopen(push, context=ctx, timeout=10) as r:
    assert r.status == 200, r.status
with urllib.request.urlopen(url + "/metrics", context=ctx, timeout=10) as r:
    sys.stdout.write(r.read().decode())
"#;
        let out = Command::new(python())
            .args(["-c", script, &gw.ca.display().to_string(), &gw.url])
            .stdin(Stdio::null())
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("python_metric{instance=\"\",job=\"python\"} 2"));
        assert!(stdout.contains("curl_metric{instance=\"\",job=\"curl\"} 1"));
    }
    gw.stop();
}

#[test]
fn plain_http_and_junk_on_the_tls_port_fail_alone() {
    let Some(pki) = Pki::new() else { return };
    if !require_tool("curl") {
        return;
    }
    let gw = Gateway::start(&pki, &pki.config());
    let mut kept = gw.connect();
    assert_eq!(exchange(&mut kept, "GET", "/-/healthy", b"").0, 200);

    let (_, status, body) = curl(&[&format!("http://{}/metrics", gw.addr)]);
    assert_eq!(status, 400);
    assert!(body.contains("Client sent an HTTP request to an HTTPS server."));
    gw.expect_failure("HTTP request to an HTTPS server");

    // Neither TLS nor HTTP: TLS refuses it.
    let mut junk = TcpStream::connect(gw.addr).unwrap();
    junk.write_all(b"\x00\x01 no protocol at all\r\n\r\n")
        .unwrap();
    wait_closed(&mut junk);
    let deadline = Instant::now() + TIMEOUT;
    while gw.tls_failures.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "junk was not reported");
        thread::sleep(Duration::from_millis(20));
    }

    assert_eq!(exchange(&mut kept, "GET", "/-/healthy", b"").0, 200);
    gw.stop();
}

#[test]
fn stalled_handshakes_neither_block_others_nor_outlive_the_first_request_timeout() {
    let Some(pki) = Pki::new() else { return };
    let gw = Gateway::start(&pki, &pki.config());
    // A handshake record that promises 512 bytes and brings two.
    let mut stalled = TcpStream::connect(gw.addr).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .unwrap();
    let mut silent = TcpStream::connect(gw.addr).unwrap();

    let started = Instant::now();
    for _ in 0..3 {
        let mut conn = gw.connect();
        assert_eq!(exchange(&mut conn, "GET", "/-/healthy", b"").0, 200);
    }
    assert!(
        started.elapsed() < FIRST_REQUEST_TIMEOUT,
        "others waited {:?} for the stalled handshakes",
        started.elapsed()
    );

    wait_closed(&mut stalled);
    wait_closed(&mut silent);
    assert!(started.elapsed() >= FIRST_REQUEST_TIMEOUT);
    gw.expect_failure("TLS handshake timeout");
    gw.stop();
}

#[test]
fn client_certificate_modes() {
    let Some(pki) = Pki::new() else { return };
    if !require_tool("curl") {
        return;
    }
    // Whether a client is let in without a certificate, with one from the configured CA,
    // and with one from another CA.
    let cases = [
        (ClientAuth::NoClientCert, [true, true, true]),
        (ClientAuth::RequestClientCert, [true, true, true]),
        (ClientAuth::RequireAnyClientCert, [false, true, true]),
        (ClientAuth::VerifyClientCertIfGiven, [true, true, false]),
        (ClientAuth::RequireAndVerifyClientCert, [false, true, false]),
    ];
    for (client_auth, expected) in cases {
        let verifies = matches!(
            client_auth,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        );
        let tls = TlsConfig {
            client_auth,
            client_ca_file: verifies.then(|| pki.path("ca.crt")),
            ..pki.config()
        };
        let gw = Gateway::start(&pki, &tls);
        for (who, welcome) in [None, Some("client"), Some("stranger")]
            .into_iter()
            .zip(expected)
        {
            let (cert, key) = who.map(|name| pki.identity(name)).unwrap_or_default();
            let (cert, key) = (cert.display().to_string(), key.display().to_string());
            let identity: &[&str] = match who {
                Some(_) => &["--cert", &cert, "--key", &key],
                None => &[],
            };
            // Client certificates travel differently in TLS 1.2 and 1.3.
            for max in ["1.2", "1.3"] {
                let args = [identity, &["--tls-max", max]].concat();
                let (code, status, _) = gw.curl(&args, "/-/healthy");
                let what = format!("{client_auth:?} with {who:?} over TLS {max}");
                if welcome {
                    assert_eq!((code, status), (0, 200), "{what}");
                } else {
                    assert!(
                        code != 0 && status == 0,
                        "{what}: curl {code}, HTTP {status}"
                    );
                }
            }
        }
        if !expected.iter().all(|&welcome| welcome) {
            gw.expect_failure("");
        }
        gw.stop();
    }
}

#[test]
fn tls_versions_are_limited_as_configured() {
    let Some(pki) = Pki::new() else { return };
    if !require_tool("curl") {
        return;
    }
    let s_client = |addr: SocketAddr, version: &str| {
        let out = Command::new("openssl")
            .args(["s_client", "-brief", "-verify_return_error", "-CAfile"])
            .arg(pki.path("ca.crt"))
            .args(["-connect", &addr.to_string(), version])
            .stdin(Stdio::null())
            .output()
            .expect("run openssl s_client");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        (out.status.success(), text)
    };
    for (only, version, other) in [
        (TlsVersion::Tls12, "1.2", "1.3"),
        (TlsVersion::Tls13, "1.3", "1.2"),
    ] {
        let tls = TlsConfig {
            min_version: only,
            max_version: only,
            ..pki.config()
        };
        let gw = Gateway::start(&pki, &tls);
        let (ok, text) = s_client(gw.addr, &format!("-tls{}", version.replace('.', "_")));
        assert!(ok, "{text}");
        assert!(
            text.contains(&format!("Protocol version: TLSv{version}")),
            "{text}"
        );
        let (ok, text) = s_client(gw.addr, &format!("-tls{}", other.replace('.', "_")));
        assert!(!ok, "TLS {other} accepted: {text}");

        let exact = |v: &str| [format!("--tlsv{v}"), "--tls-max".to_string(), v.to_string()];
        let args = exact(version);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(gw.curl(&args, "/-/healthy").1, 200);
        let args = exact(other);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_ne!(gw.curl(&args, "/-/healthy").0, 0);
        gw.stop();
    }
}

#[test]
fn a_large_scrape_arrives_intact_through_a_slow_reader() {
    const SERIES: usize = 150_000;
    let Some(pki) = Pki::new() else { return };
    let gw = Gateway::start(&pki, &pki.config());
    let push: String = (0..SERIES)
        .map(|i| format!("big_metric{{i=\"{i}\"}} {i}\n"))
        .collect();
    let mut conn = gw.connect();
    let (status, body) = exchange(&mut conn, "PUT", "/metrics/job/big", push.as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // HTTP/1.0: the body runs until the server closes, which it must do with close_notify,
    // or reading to the end fails as a possible truncation.
    let mut conn = gw.connect();
    conn.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut raw = vec![0u8; 100];
    conn.read_exact(&mut raw).unwrap();
    // Long enough for the server to fill the socket and wait for it to drain.
    thread::sleep(Duration::from_millis(300));
    conn.read_to_end(&mut raw).unwrap();
    let resp = parse_response(&raw, false).unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.body.len() > 4 << 20, "{} bytes", resp.body.len());
    let body = String::from_utf8(resp.body).unwrap();

    let mut seen = vec![false; SERIES];
    for line in body.lines().filter(|l| l.starts_with("big_metric{")) {
        let value: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(line.contains(&format!("i=\"{value}\"")), "{line}");
        assert!(!std::mem::replace(&mut seen[value], true), "{line} twice");
    }
    assert!(seen.iter().all(|&s| s), "series missing");
    gw.stop();
}

#[test]
fn shutdown_says_close_notify_to_idle_clients() {
    let Some(pki) = Pki::new() else { return };
    let gw = Gateway::start(&pki, &pki.config());
    let mut idle = gw.connect();
    assert_eq!(exchange(&mut idle, "GET", "/-/healthy", b"").0, 200);
    gw.stop();
    // Without close_notify this is an `UnexpectedEof` error.
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn configuration_errors_name_the_file_or_setting() {
    let Some(pki) = Pki::new() else { return };
    assert!(pushgate::tls::server_config(&pki.config()).is_ok());
    std::fs::write(pki.path("garbage.pem"), "not PEM at all\n").unwrap();
    let cases = [
        (
            TlsConfig {
                cert_file: pki.path("missing.crt"),
                ..pki.config()
            },
            "missing.crt",
        ),
        (
            TlsConfig {
                cert_file: pki.path("garbage.pem"),
                ..pki.config()
            },
            "cert_file",
        ),
        (
            TlsConfig {
                key_file: pki.path("garbage.pem"),
                ..pki.config()
            },
            "key_file",
        ),
        (
            TlsConfig {
                key_file: pki.path("client.key"),
                ..pki.config()
            },
            "server.crt",
        ),
        (
            TlsConfig {
                client_auth: ClientAuth::RequireAndVerifyClientCert,
                ..pki.config()
            },
            "client_ca_file",
        ),
        (
            TlsConfig {
                client_ca_file: Some(pki.path("ca.crt")),
                ..pki.config()
            },
            "Client Auth Policy",
        ),
        (
            TlsConfig {
                client_auth: ClientAuth::VerifyClientCertIfGiven,
                client_ca_file: Some(pki.path("garbage.pem")),
                ..pki.config()
            },
            "client_ca_file",
        ),
        (
            TlsConfig {
                min_version: TlsVersion::Tls13,
                max_version: TlsVersion::Tls12,
                ..pki.config()
            },
            "min_version",
        ),
    ];
    for (tls, wanted) in cases {
        match pushgate::tls::server_config(&tls) {
            Ok(_) => panic!("{tls:?} accepted"),
            Err(e) => assert!(e.contains(wanted), "{e:?} does not name {wanted}"),
        }
    }
}

/// The binary itself, as an operator runs it: `--web.config.file` with `tls_server_config`
/// (relative paths, as the file's directory has them) and, when built in, basic auth.
#[test]
fn the_binary_serves_https_from_its_web_config_file() {
    let Some(pki) = Pki::new() else { return };
    if !require_tool("curl") {
        return;
    }
    let mut config =
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n".to_string();
    let auth = cfg!(feature = "basic-auth");
    #[cfg(feature = "basic-auth")]
    {
        let hash = bcrypt::hash("secret", 4).unwrap();
        config += &format!("basic_auth_users:\n  alice: {hash}\n");
    }
    let web = pki.path("web.yml");
    std::fs::write(&web, config).unwrap();
    let mut process = util::Process::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_pushgate")),
        &[
            "--web.listen-address=127.0.0.1:0".to_string(),
            format!("--persistence.file={}", pki.path("log").display()),
            format!("--web.config.file={}", web.display()),
        ],
    );
    let addr = process.wait_listening(TIMEOUT);
    let url = format!("https://{addr}");
    let ca = pki.path("ca.crt").display().to_string();
    let mut args = vec!["--cacert", &ca];
    if auth {
        let (_, status, _) = curl(&["--cacert", &ca, &format!("{url}/metrics")]);
        assert_eq!(status, 401);
        args.extend(["-u", "alice:secret"]);
    }
    let push = format!("{url}/metrics/job/bin");
    let mut put = args.clone();
    put.extend(["-X", "PUT", "--data-binary", "bin_metric 3\n", &push]);
    let (code, status, body) = curl(&put);
    assert_eq!((code, status), (0, 200), "{body}\n{}", process.stderr());
    let scrape = format!("{url}/metrics");
    args.push(&scrape);
    let (_, status, body) = curl(&args);
    assert_eq!(status, 200);
    assert!(
        body.contains("bin_metric{instance=\"\",job=\"bin\"} 3"),
        "{body}"
    );
    // Plain HTTP to the TLS port is refused and logged; the server goes on.
    let (_, status, _) = curl(&[&scrape.replace("https", "http")]);
    assert_eq!(status, 400);
    // A renewed certificate is served to new connections without a restart.
    pki.leaf(
        "renewed",
        "ca",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
    );
    for (from, to) in [("renewed.key", "server.key"), ("renewed.crt", "server.crt")] {
        std::fs::copy(pki.path(from), pki.path(to)).unwrap();
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &addr.to_string(), "-CAfile", &ca])
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        if String::from_utf8_lossy(&out.stdout).contains("CN=renewed")
            || String::from_utf8_lossy(&out.stdout).contains("CN = renewed")
        {
            break;
        }
        assert!(Instant::now() < deadline, "{}", process.stderr());
        thread::sleep(Duration::from_millis(100));
    }
    let (_, status, _) = curl(&args);
    assert_eq!(status, 200);
    assert!(process
        .stderr()
        .contains("applied the changed web configuration file"));
    assert!(process.terminate().is_some_and(|s| s.success()));
    assert!(
        process.stderr().contains("TLS connection failed"),
        "{}",
        process.stderr()
    );
}
