//! HTTPS end to end (feature `tls`): the real application behind a TLS listener, with
//! certificates made by the `openssl` CLI, spoken to by curl, Python's `ssl`, `openssl s_client`
//! and a rustls client of the test's own where timing or the close matters.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::util::{self, parse_response, python, require_python_module, require_tool, TempDir};
use pushgate::config::{Config, LogFormat, LogLevel};
use pushgate::http::service::{Request, Response, Service};
use pushgate::log::Logger;
use pushgate::net::server::{Server, ServerConfig};
use pushgate::store::Store;
use pushgate::web::app::App;
use pushgate::webconfig::{ClientAuth, Pem, TlsConfig, TlsVersion};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

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

    fn pem(&self, name: &str) -> Pem {
        Pem::File(self.path(name))
    }

    /// `  <key>: |` with the PEM file `name` under it, as `tls_server_config` holds it inline.
    fn inline(&self, key: &str, name: &str) -> String {
        let pem = std::fs::read_to_string(self.path(name)).unwrap();
        let block: String = pem.lines().map(|line| format!("    {line}\n")).collect();
        format!("  {key}: |\n{block}")
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
            cert: self.pem("server.crt"),
            key: self.pem("server.key"),
            client_auth: ClientAuth::NoClientCert,
            client_ca: None,
            client_allowed_sans: None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: None,
            prefer_server_cipher_suites: true,
            curve_preferences: Vec::new(),
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
            tls: Some(pushgate::net::tls::server_config(tls).expect("TLS configuration")),
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

/// `openssl s_client -brief` to `addr` with `args`, trusting the test CA: whether it
/// connected, and what it said.
fn s_client(pki: &Pki, addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(["s_client", "-brief", "-verify_return_error", "-CAfile"])
        .arg(pki.path("ca.crt"))
        .args(["-connect", &addr.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

/// The binary, as an operator runs it, with `config` as its `--web.config.file` (`web.yml` in
/// the PKI's directory); returns it once it listens, and where.
fn run_binary(pki: &Pki, config: &str) -> (util::Process, SocketAddr) {
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
    (process, addr)
}

/// Waits until new connections to `addr` are served the certificate of common name `cn`, as
/// `openssl s_client` (presenting the client certificate) sees it.
fn wait_served(pki: &Pki, addr: SocketAddr, cn: &str, process: &util::Process) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &addr.to_string(), "-CAfile"])
            .arg(pki.path("ca.crt"))
            .arg("-cert")
            .arg(pki.path("client.crt"))
            .arg("-key")
            .arg(pki.path("client.key"))
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains(&format!("CN={cn}")) || text.contains(&format!("CN = {cn}")) {
            return;
        }
        assert!(Instant::now() < deadline, "{text}\n{}", process.stderr());
        thread::sleep(Duration::from_millis(100));
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
            client_ca: verifies.then(|| pki.pem("ca.crt")),
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
    let s_client = |addr, version: &str| s_client(&pki, addr, &[version]);
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
    assert!(pushgate::net::tls::server_config(&pki.config()).is_ok());
    std::fs::write(pki.path("garbage.pem"), "not PEM at all\n").unwrap();
    let cases = [
        (
            TlsConfig {
                cert: pki.pem("missing.crt"),
                ..pki.config()
            },
            "missing.crt",
        ),
        (
            TlsConfig {
                cert: pki.pem("garbage.pem"),
                ..pki.config()
            },
            "cert_file",
        ),
        (
            TlsConfig {
                key: pki.pem("garbage.pem"),
                ..pki.config()
            },
            "key_file",
        ),
        (
            TlsConfig {
                key: pki.pem("client.key"),
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
                client_ca: Some(pki.pem("ca.crt")),
                ..pki.config()
            },
            "Client Auth Policy",
        ),
        (
            TlsConfig {
                client_auth: ClientAuth::VerifyClientCertIfGiven,
                client_ca: Some(pki.pem("garbage.pem")),
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
        (
            TlsConfig {
                cipher_suites: Some(Vec::new()),
                max_version: TlsVersion::Tls12,
                ..pki.config()
            },
            "cipher_suites",
        ),
        (
            TlsConfig {
                cert: Pem::Inline("not PEM\n".into()),
                ..pki.config()
            },
            "inline cert: no certificate",
        ),
        (
            TlsConfig {
                key: Pem::Inline(String::new()),
                ..pki.config()
            },
            "inline key",
        ),
        (
            TlsConfig {
                client_auth: ClientAuth::RequireAndVerifyClientCert,
                client_ca: Some(Pem::Inline("-----BEGIN CERTIFICATE-----\n".into())),
                ..pki.config()
            },
            "inline client_ca",
        ),
    ];
    for (tls, wanted) in cases {
        match pushgate::net::tls::server_config(&tls) {
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
    let (mut process, addr) = run_binary(&pki, &config);
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
    wait_served(&pki, addr, "renewed", &process);
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

/// Certificate, key and client CA written into the web configuration file: served, checked,
/// and a changed file applies as changed certificate files do.
#[test]
fn inline_certificates_are_served_and_changes_apply() {
    let Some(pki) = Pki::new() else { return };
    if !require_tool("curl") {
        return;
    }
    let config = |cert: &str, key: &str| {
        format!(
            "tls_server_config:\n{}{}  client_auth_type: RequireAndVerifyClientCert\n{}",
            pki.inline("cert", cert),
            pki.inline("key", key),
            pki.inline("client_ca", "ca.crt"),
        )
    };
    let (mut process, addr) = run_binary(&pki, &config("server.crt", "server.key"));
    let ca = pki.path("ca.crt").display().to_string();
    let url = format!("https://{addr}/-/healthy");
    let as_who = |name: &str| {
        let (cert, key) = pki.identity(name);
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        curl(&["--cacert", &ca, "--cert", &cert, "--key", &key, &url])
    };
    let (code, status, body) = as_who("client");
    assert_eq!((code, status), (0, 200), "{body}\n{}", process.stderr());
    for (code, status, _) in [as_who("stranger"), curl(&["--cacert", &ca, &url])] {
        assert!(code != 0 && status == 0, "curl {code}, HTTP {status}");
    }
    wait_served(&pki, addr, "server", &process);

    pki.leaf(
        "renewed",
        "ca",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
    );
    std::fs::write(pki.path("web.yml"), config("renewed.crt", "renewed.key")).unwrap();
    wait_served(&pki, addr, "renewed", &process);
    assert_eq!(as_who("client").1, 200);
    assert!(process
        .stderr()
        .contains("applied the changed web configuration file"));
    assert!(process.terminate().is_some_and(|s| s.success()));
}

/// `client_allowed_sans`: after the usual checks, the client certificate must carry one of the
/// names, of whichever kind, written as upstream writes them.
#[test]
fn client_certificates_are_limited_to_allowed_names() {
    let Some(pki) = Pki::new() else { return };
    if !require_tool("curl") {
        return;
    }
    let names = "subjectAltName=DNS:pusher.example,email:ops@example.com,IP:10.1.2.3,\
                 IP:2001:db8:0:0::7,URI:spiffe://example.org/pusher\n\
                 extendedKeyUsage=clientAuth";
    pki.leaf("named", "ca", names);
    pki.leaf("named-stranger", "other-ca", names);
    // What the test itself connects as, allowed in every case.
    let operator = "operator.example";
    pki.leaf(
        "operator",
        "ca",
        "subjectAltName=DNS:operator.example\nextendedKeyUsage=clientAuth",
    );
    let try_as = |gw: &Gateway, who: Option<&str>| {
        let (cert, key) = who.map(|name| pki.identity(name)).unwrap_or_default();
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let identity: &[&str] = match who {
            Some(_) => &["--cert", &cert, "--key", &key],
            None => &[],
        };
        ["1.2", "1.3"].map(|max| {
            let args = [identity, &["--tls-max", max]].concat();
            gw.curl(&args, "/-/healthy").1 == 200
        })
    };
    let start = |client_auth, allowed: &[&str]| {
        let verifies = client_auth == ClientAuth::RequireAndVerifyClientCert;
        let tls = TlsConfig {
            client_auth,
            client_ca: verifies.then(|| pki.pem("ca.crt")),
            client_allowed_sans: Some(allowed.iter().map(|s| s.to_string()).collect()),
            ..pki.config()
        };
        Gateway {
            identity: pki.identity("operator"),
            ..Gateway::start(&pki, &tls)
        }
    };
    // Each kind of name is enough on its own, IPv6 in its compressed form.
    for allowed in [
        "pusher.example",
        "ops@example.com",
        "10.1.2.3",
        "2001:db8::7",
        "spiffe://example.org/pusher",
    ] {
        let gw = start(ClientAuth::RequireAndVerifyClientCert, &[operator, allowed]);
        assert_eq!(try_as(&gw, Some("named")), [true; 2], "{allowed}");
        // A certificate without the name, one from another CA with it, and none at all.
        for who in [Some("client"), Some("named-stranger"), None] {
            assert_eq!(try_as(&gw, who), [false; 2], "{allowed}: {who:?}");
        }
        gw.expect_failure("client_allowed_sans");
        gw.stop();
    }
    // Exact matches only: no other case, no wildcard, no other spelling of the address.
    let near = [
        operator,
        "PUSHER.example",
        "*.example",
        "2001:db8:0:0::7",
        "10.1.2.3/32",
        "",
    ];
    let gw = start(ClientAuth::RequireAndVerifyClientCert, &near);
    assert_eq!(try_as(&gw, Some("named")), [false; 2]);
    gw.stop();
    // Where the certificate is not verified the names are still checked, and a client
    // without one is refused as upstream's check refuses it.
    let gw = start(ClientAuth::RequestClientCert, &[operator, "pusher.example"]);
    assert_eq!(try_as(&gw, Some("named-stranger")), [true; 2]);
    assert_eq!(try_as(&gw, Some("stranger")), [false; 2]);
    assert_eq!(try_as(&gw, None), [false; 2]);
    gw.stop();
}

/// `cipher_suites` limits TLS 1.2 to the suites named, preferred in their order unless
/// `prefer_server_cipher_suites` is false; TLS 1.3 is left as it is, as Go leaves it.
#[test]
fn cipher_suites_limit_tls12() {
    let Some(pki) = Pki::new() else { return };
    let config = |prefer_server: bool| {
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
             cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n  \
             - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n  - TLS_AES_128_GCM_SHA256\n  \
             prefer_server_cipher_suites: {prefer_server}\n"
        )
    };
    let tls12 = |addr, ciphers: &str| s_client(&pki, addr, &["-tls1_2", "-cipher", ciphers]);
    let both = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";

    let (mut process, addr) = run_binary(&pki, &config(true));
    for allowed in [
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ] {
        let (ok, text) = tls12(addr, allowed);
        assert!(ok, "{allowed}: {text}");
        assert!(text.contains(&format!("Ciphersuite: {allowed}")), "{text}");
    }
    for refused in ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA"] {
        let (ok, text) = tls12(addr, refused);
        assert!(!ok, "{refused} accepted: {text}");
    }
    // The client prefers AES, the list ChaCha20: the list decides.
    let (ok, text) = tls12(addr, both);
    assert!(
        ok && text.contains("Ciphersuite: ECDHE-ECDSA-CHACHA20-POLY1305"),
        "{text}"
    );
    // Naming one TLS 1.3 suite leaves the others offered.
    let (ok, text) = s_client(
        &pki,
        addr,
        &["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"],
    );
    assert!(
        ok && text.contains("Ciphersuite: TLS_AES_256_GCM_SHA384"),
        "{text}"
    );
    assert!(process.terminate().is_some_and(|s| s.success()));

    let (mut process, addr) = run_binary(&pki, &config(false));
    let (ok, text) = tls12(addr, both);
    assert!(
        ok && text.contains("Ciphersuite: ECDHE-ECDSA-AES256-GCM-SHA384"),
        "{text}"
    );
    assert!(process.terminate().is_some_and(|s| s.success()));
}

/// `curve_preferences` limits the key exchange groups, in TLS 1.2 and 1.3 alike.
#[test]
fn curve_preferences_limit_key_exchange() {
    let Some(pki) = Pki::new() else { return };
    let config = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
                  curve_preferences: [CurveP384, CurveP256]\n";
    let (mut process, addr) = run_binary(&pki, config);
    // A TLS 1.2 client's groups also limit the curve of the server's key (P-256), so each
    // list there has P-256.
    for (version, groups, agreed) in [
        ("-tls1_3", "P-384", Some("secp384r1")),
        ("-tls1_3", "P-256", Some("prime256v1")),
        // A key share the server does not take is answered by asking for another.
        ("-tls1_3", "X25519:P-384", Some("secp384r1")),
        ("-tls1_3", "X25519", None),
        ("-tls1_3", "P-521", None),
        ("-tls1_2", "P-384:P-256", Some("secp384r1")),
        ("-tls1_2", "X25519:P-256", Some("prime256v1")),
        ("-tls1_2", "P-521:P-256", Some("prime256v1")),
    ] {
        let (ok, text) = s_client(&pki, addr, &[version, "-groups", groups]);
        let what = format!("{version} -groups {groups}");
        match agreed {
            Some(group) => {
                assert!(ok, "{what}: {text}");
                assert!(
                    text.contains(&format!("Temp Key: ECDH, {group}")),
                    "{what}: {text}"
                );
            }
            None => assert!(!ok, "{what} accepted: {text}"),
        }
    }
    assert!(process.terminate().is_some_and(|s| s.success()));
}
