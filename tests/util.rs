//! Shared harness for the black-box tests: start a gateway (ours or the upstream reference) on
//! loopback, talk HTTP/1.1 to it with a tiny blocking client, and parse its text exposition into a
//! form two gateways can be compared by.
//!
//! Std only, so the tests need nothing beyond the crate's own manifest. Every wait is bounded: a
//! broken server fails a test with its stderr attached instead of hanging the suite.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server gets to bind and answer `GET /-/ready` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopped process gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);
/// Connect, read and write timeout of one HTTP exchange.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses larger than this are a bug in the server or the test, not something to buffer.
const MAX_RESPONSE: u64 = 256 << 20;
/// Poll interval of every wait loop.
const POLL: Duration = Duration::from_millis(20);
/// The reference cannot bind port 0 and report it, so it gets a port picked by us, which another
/// process may grab in between: retry with a new one this many times.
pub const PORT_ATTEMPTS: usize = 5;

/// Which gateway a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// This crate's binary.
    Pushgate,
    /// Upstream's Pushgateway (Debian's `prometheus-pushgateway`), or `$PUSHGATE_REFERENCE_BIN`.
    Reference,
}

impl Target {
    /// The target under test: `PUSHGATE_TEST_TARGET=reference` proves a test against upstream
    /// (so a test is known to be right before pushgate can pass it); anything else means pushgate.
    pub fn under_test() -> Target {
        match std::env::var("PUSHGATE_TEST_TARGET").as_deref() {
            Ok("reference") => Target::Reference,
            Ok("pushgate") | Err(_) => Target::Pushgate,
            Ok(other) => panic!("PUSHGATE_TEST_TARGET={other:?}: expected pushgate or reference"),
        }
    }

    pub fn program(self) -> PathBuf {
        match self {
            Target::Pushgate => PathBuf::from(env!("CARGO_BIN_EXE_pushgate")),
            Target::Reference => std::env::var_os("PUSHGATE_REFERENCE_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("prometheus-pushgateway")),
        }
    }

    /// Whether the target's program can be run; see [`require_tool`].
    pub fn available(self) -> bool {
        match self {
            // Cargo builds it for the test, so a missing binary is a build problem, not a skip.
            Target::Pushgate => true,
            Target::Reference => require_tool(&self.program().to_string_lossy()),
        }
    }
}

/// Whether `name` (a bare program name looked up in `PATH`, or a path) can be run.
pub fn tool_exists(name: &str) -> bool {
    let path = Path::new(name);
    if path.components().count() > 1 {
        return path.is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false)
}

/// Whether this is a CI run, where a missing tool is an error rather than a reason to skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// For tests that need an external program: true if it exists. Otherwise a test under CI (where
/// `make deps` must have installed it) fails loudly, and a developer's run prints why it skips.
pub fn require_tool(name: &str) -> bool {
    if tool_exists(name) {
        return true;
    }
    assert!(
        !in_ci(),
        "`{name}` is required but not installed; run `make deps`"
    );
    eprintln!("SKIPPED: `{name}` is not installed (run `make deps`)");
    false
}

/// `tests/testdata/NAME`: bodies written by real encoders (its README says which).
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name)
}

/// A directory under the system temp dir, unique to this process and call, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {path:?}: {e}"));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A loopback port that was free a moment ago. Racy by nature: callers retry on a bind failure
/// and check that whoever answers on it is their own process.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A child process with its stderr collected in the background; stopped on drop with SIGTERM,
/// then SIGKILL after a grace period, so a failing test never leaves a server behind.
pub struct Process {
    name: String,
    child: Child,
    stderr: Arc<Mutex<String>>,
    /// Receives the `address=` of the first "listening" log line.
    listening: mpsc::Receiver<String>,
}

impl Process {
    pub fn spawn(program: &Path, args: &[String]) -> Process {
        let name = program.display().to_string();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, listening) = mpsc::channel();
        let pipe = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&stderr);
        // Drain stderr for the whole life of the child so a chatty server never blocks on a full
        // pipe, and keep it to explain failures.
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_address(&line) {
                    let _ = tx.send(addr);
                }
                let mut all = sink.lock().unwrap_or_else(|e| e.into_inner());
                all.push_str(&line);
                all.push('\n');
            }
        });
        Process {
            name,
            child,
            stderr,
            listening,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Panics with the process's stderr if it has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early ({status}); stderr:\n{}",
                self.name,
                self.stderr()
            );
        }
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The address of the next "listening" log line, waiting at most `timeout`.
    pub fn wait_listening(&mut self, timeout: Duration) -> SocketAddr {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(addr) = self.listening.recv_timeout(POLL) {
                return addr.parse().unwrap_or_else(|e| {
                    panic!("{}: bad listening address {addr:?}: {e}", self.name)
                });
            }
            self.assert_running();
        }
        panic!(
            "{} logged no `msg=listening address=...` line within {timeout:?}; stderr:\n{}",
            self.name,
            self.stderr()
        );
    }

    /// Waits until `GET path` on `addr` answers 200. False if the process exits first (for
    /// example because another process took its port); panics on timeout.
    pub fn wait_http_ok(&mut self, addr: SocketAddr, path: &str) -> bool {
        self.wait_http_ok_with(addr, path, &[])
    }

    /// [`Process::wait_http_ok`] sending `headers` (credentials, say).
    pub fn wait_http_ok_with(
        &mut self,
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> bool {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if self.exited() {
                return false;
            }
            if let Ok(resp) = request(addr, "GET", path, headers, b"") {
                if resp.status == 200 {
                    return true;
                }
            }
            thread::sleep(POLL);
        }
        panic!(
            "{} did not answer 200 on {path} within {READY_TIMEOUT:?}; stderr:\n{}",
            self.name,
            self.stderr()
        );
    }
}

impl Process {
    /// Waits at most `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(POLL);
        }
        None
    }

    /// Sends SIGKILL and waits for the exit: no shutdown of any kind.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.wait_exit(TERM_GRACE)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exited() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + TERM_GRACE;
        while Instant::now() < deadline {
            if self.exited() {
                return;
            }
            thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `address` of a logfmt line announcing the listener: ours logs `msg=listening`,
/// upstream's exporter-toolkit `msg="Listening on"`.
fn listening_address(line: &str) -> Option<String> {
    let msg = logfmt_value(line, "msg")?;
    if msg != "listening" && msg != "Listening on" {
        return None;
    }
    logfmt_value(line, "address")
}

/// The value of `key` in a logfmt line, quoted (with `\"` escapes) or bare.
fn logfmt_value(line: &str, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    let start = line
        .match_indices(&prefix)
        .find(|(i, _)| *i == 0 || line.as_bytes()[i - 1] == b' ')?
        .0
        + prefix.len();
    let rest = &line[start..];
    let Some(quoted) = rest.strip_prefix('"') else {
        return rest.split(' ').next().map(str::to_string);
    };
    let mut value = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => value.push(chars.next()?),
            c => value.push(c),
        }
    }
    None
}

/// A gateway on loopback with its own temp dir (persistence file included), stopped on drop.
pub struct Server {
    pub target: Target,
    pub addr: SocketAddr,
    // Field order matters: the process stops before its directory is removed.
    process: Process,
    /// What it was started with, for [`Server::restart`].
    extra_args: Vec<String>,
    _dir: TempDir,
}

impl Server {
    /// Starts `target` with `extra_args` after the listen address and persistence file, and waits
    /// until it is ready. Panics, with the server's stderr, if it does not come up.
    pub fn start(target: Target, extra_args: &[&str]) -> Server {
        Server::start_with(target, extra_args, &[])
    }

    /// [`Server::start`] for a server that wants `headers` (credentials, say) on every request,
    /// the readiness checks included.
    pub fn start_with(target: Target, extra_args: &[&str], headers: &[(&str, &str)]) -> Server {
        Server::start_in(
            target,
            extra_args,
            headers,
            TempDir::new("pushgate-test"),
            None,
        )
    }

    /// [`Server::start`] on a persistence file that `write` makes first (at the path given).
    pub fn start_on_log(target: Target, extra_args: &[&str], write: impl FnOnce(&Path)) -> Server {
        let dir = TempDir::new("pushgate-test");
        write(&dir.path().join("p"));
        Server::start_in(target, extra_args, &[], dir, None)
    }

    /// Stops the server (SIGTERM) and starts it again with the same flags and persistence
    /// file (pushgate gets a new port).
    pub fn restart(self) -> Server {
        let Server {
            target,
            mut process,
            extra_args,
            _dir: dir,
            ..
        } = self;
        assert!(
            process.terminate().is_some_and(|s| s.success()),
            "{target:?} did not stop cleanly:\n{}",
            process.stderr()
        );
        let args: Vec<&str> = extra_args.iter().map(String::as_str).collect();
        Server::start_in(target, &args, &[], dir, None)
    }

    /// Kills the server with SIGKILL, as a crash would; [`Stopped::start`] brings it back.
    pub fn kill(self) -> Stopped {
        let Server {
            target,
            addr,
            mut process,
            extra_args,
            _dir: dir,
        } = self;
        process.kill();
        Stopped {
            target,
            addr,
            extra_args,
            dir,
        }
    }

    /// `listen` is pushgate's listen address (a free port when `None`).
    fn start_in(
        target: Target,
        extra_args: &[&str],
        headers: &[(&str, &str)],
        dir: TempDir,
        listen: Option<SocketAddr>,
    ) -> Server {
        let persistence = dir.path().join("p");
        let kept: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        let args_with = |listen: &str| -> Vec<String> {
            let mut args = vec![
                format!("--web.listen-address={listen}"),
                format!("--persistence.file={}", persistence.display()),
            ];
            args.extend(extra_args.iter().map(|a| a.to_string()));
            args
        };
        match target {
            Target::Pushgate => {
                let listen = listen.map_or("127.0.0.1:0".to_string(), |a| a.to_string());
                let mut process = Process::spawn(&target.program(), &args_with(&listen));
                let addr = process.wait_listening(READY_TIMEOUT);
                let ready = format!("{}/-/ready", route_prefix(extra_args));
                if !process.wait_http_ok_with(addr, &ready, headers) {
                    process.assert_running();
                }
                Server {
                    target,
                    addr,
                    process,
                    extra_args: kept,
                    _dir: dir,
                }
            }
            Target::Reference => {
                for _ in 0..PORT_ATTEMPTS {
                    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
                    let mut process =
                        Process::spawn(&target.program(), &args_with(&addr.to_string()));
                    // Only trust the port once the process answering on it is ours: its status
                    // page names our persistence file.
                    if process.wait_http_ok_with(addr, "/-/ready", headers)
                        && serves_flag_with(addr, "/api/v1/status", &persistence, headers)
                    {
                        return Server {
                            target,
                            addr,
                            process,
                            extra_args: kept,
                            _dir: dir,
                        };
                    }
                }
                panic!("reference pushgateway did not come up on {PORT_ATTEMPTS} free ports");
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// The process id, to read what the kernel says of it (`/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// One request; panics (with the server's stderr) if the exchange itself fails.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.addr, method, path, headers, body).unwrap_or_else(|e| {
            panic!(
                "{:?}: {method} {path}: {e}; server stderr:\n{}",
                self.target,
                self.stderr()
            )
        })
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// `GET /metrics`, which must answer 200 with a parsable exposition.
    pub fn scrape(&self) -> Exposition {
        let resp = self.get("/metrics");
        assert_eq!(
            resp.status,
            200,
            "{:?}: GET /metrics: {}",
            self.target,
            resp.text()
        );
        Exposition::parse(&resp.text())
            .unwrap_or_else(|e| panic!("{:?}: bad exposition: {e}\n{}", self.target, resp.text()))
    }
}

/// A server killed by [`Server::kill`]: its flags, address and persistence file.
pub struct Stopped {
    pub addr: SocketAddr,
    target: Target,
    extra_args: Vec<String>,
    dir: TempDir,
}

impl Stopped {
    /// Starts the server again from its persistence file, on the address it had, so that
    /// whoever knows it by that address (a load balancer, Prometheus) finds it again.
    pub fn start(self) -> Server {
        assert_eq!(
            self.target,
            Target::Pushgate,
            "the reference cannot be asked for its port back"
        );
        let args: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        Server::start_in(self.target, &args, &[], self.dir, Some(self.addr))
    }
}

/// The route prefix that `args` give a server: `--web.route-prefix`, else the path of
/// `--web.external-url`, without a trailing slash.
pub fn route_prefix(args: &[&str]) -> String {
    let flag = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
    };
    let prefix = match (flag("--web.route-prefix"), flag("--web.external-url")) {
        (Some(p), _) => p,
        (None, Some(url)) => url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or(""),
        (None, None) => "",
    };
    prefix.trim_end_matches('/').to_string()
}

/// Whether `GET path` on `addr` mentions `value` (a path we chose, so no JSON escaping applies).
pub fn serves_flag(addr: SocketAddr, path: &str, value: &Path) -> bool {
    serves_flag_with(addr, path, value, &[])
}

/// [`serves_flag`] sending `headers`.
pub fn serves_flag_with(
    addr: SocketAddr,
    path: &str,
    value: &Path,
    headers: &[(&str, &str)],
) -> bool {
    request(addr, "GET", path, headers, b"")
        .map(|resp| resp.status == 200 && resp.text().contains(&*value.to_string_lossy()))
        .unwrap_or(false)
}

/// An HTTP response with the body already de-chunked.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`), bounded by timeouts.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !body.is_empty() || !matches!(method, "GET" | "HEAD") {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    // One write: a server that answers before reading the body (a bad path, say) and then closes
    // would otherwise reset the connection when the late body arrives.
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    stream.write_all(&message)?;
    let mut raw = Vec::new();
    match read_to_close(&mut stream, &mut raw) {
        Ok(()) => parse_response(&raw, method == "HEAD")
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        // A server closing with unread request bytes sends a reset after its answer; the
        // answer stands if it arrived whole.
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
            parse_response(&raw, method == "HEAD").map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

/// A keep-alive HTTP/1.1 client, just enough for pushes and scrapes.
pub struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    pub fn request(&mut self, method: &str, path: &str, body: &str) -> io::Result<(u16, Vec<u8>)> {
        let r = self.exchange(method, path, body);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn exchange(&mut self, method: &str, path: &str, body: &str) -> io::Result<(u16, Vec<u8>)> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut().unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        conn.get_mut()
            .write_all(format!("{head}{body}").as_bytes())?;
        let mut line = String::new();
        conn.read_line(&mut line)?;
        let status: u16 = line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let (mut length, mut chunked, mut close) = (0, false, false);
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let l = line.trim_end().to_ascii_lowercase();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            chunked |= l == "transfer-encoding: chunked";
            close |= l == "connection: close";
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                conn.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim(), 16).unwrap();
                let start = body.len();
                body.resize(start + n + 2, 0);
                conn.read_exact(&mut body[start..])?;
                body.truncate(start + n);
                if n == 0 {
                    break;
                }
            }
        } else {
            body.resize(length, 0);
            conn.read_exact(&mut body)?;
        }
        if close {
            self.conn = None;
        }
        Ok((status, body))
    }

    pub fn push(&mut self, path: &str, body: &str) -> u16 {
        self.request("PUT", path, body).map_or(0, |(s, _)| s)
    }
}

/// Sends `bytes` as they are on a fresh connection, ends our side (the server may still
/// answer) and returns everything the server sends until it closes, bounded by timeouts.
pub fn exchange_raw(addr: SocketAddr, bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(bytes)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut raw = Vec::new();
    read_to_close(&mut stream, &mut raw)?;
    Ok(raw)
}

/// Appends what `stream` delivers to `raw` until the server closes it.
fn read_to_close(stream: &mut TcpStream, raw: &mut Vec<u8>) -> io::Result<()> {
    let mut buf = [0u8; 64 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) if (raw.len() + n) as u64 > MAX_RESPONSE => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response too large",
                ));
            }
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A whole response in `raw`; an error also while the body is still incomplete.
pub fn parse_response(raw: &[u8], head_only: bool) -> Result<Response, String> {
    let end = find(raw, b"\r\n\r\n").ok_or("response without end of header")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("header not UTF-8: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    if head_only {
        return Ok(resp);
    }
    resp.body = if resp
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(len) = resp.header("Content-Length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        rest.get(..len)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(resp)
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or("chunk size line without CRLF")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(rest.get(..size).ok_or("truncated chunk")?);
        rest = rest.get(size + 2..).ok_or("chunk without trailing CRLF")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An `Authorization` header value for HTTP basic auth, which only builds with it can check.
#[cfg(feature = "basic-auth")]
pub fn basic_auth(user: &str, password: &str) -> String {
    let standard = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    format!(
        "Basic {}",
        base64(format!("{user}:{password}").as_bytes(), standard, true)
    )
}

/// base64url without padding, for `name@base64` URL components.
pub fn base64url(s: &str) -> String {
    let url = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    base64(s.as_bytes(), url, false)
}

/// `bytes` in base64 with `alphabet`, the last quantum padded with `=` if `pad`.
fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for query strings.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One sample of an exposition: name, labels sorted by name, and the value as written (so float
/// formatting differences show), except for the masked push timestamps.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: String,
}

/// The pushed part of a text exposition, comparable across gateways: the gateway's own and Go
/// runtime metrics are dropped (they differ by implementation and moment), and the per-group
/// push timestamps become "zero"/"nonzero" because wall-clock times never match.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exposition {
    pub samples: BTreeSet<Sample>,
    /// Family name -> TYPE.
    pub types: BTreeMap<String, String>,
    /// Family name -> HELP text, still escaped.
    pub help: BTreeMap<String, String>,
}

const IGNORED_PREFIXES: [&str; 4] = ["go_", "process_", "pushgateway_", "pushgate_"];
const MASKED: [&str; 2] = ["push_time_seconds", "push_failure_time_seconds"];

fn ignored(name: &str) -> bool {
    IGNORED_PREFIXES.iter().any(|p| name.starts_with(p))
}

impl Exposition {
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut expo = Exposition::default();
        for (n, line) in text.lines().enumerate() {
            let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                if !ignored(name) {
                    expo.help.insert(name.to_string(), help.to_string());
                }
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .ok_or_else(|| at("TYPE without type".into()))?;
                if !ignored(name) {
                    expo.types.insert(name.to_string(), kind.to_string());
                }
            } else if line.starts_with('#') || line.trim().is_empty() {
                continue;
            } else {
                let sample = parse_sample(line).map_err(at)?;
                if !ignored(&sample.name) {
                    expo.samples.insert(sample);
                }
            }
        }
        Ok(expo)
    }

    /// The value of the sample with exactly this name and label set.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<&str> {
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        wanted.sort();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value.as_str())
    }

    /// Whether any sample has this name.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    /// The samples, one per line as in the exposition, for failure messages.
    pub fn render(&self) -> String {
        self.samples.iter().map(|s| format!("{s}\n")).collect()
    }

    /// What differs between `self` (left) and `other` (right), one item per line.
    pub fn diff(&self, other: &Exposition) -> String {
        let mut out = String::new();
        for s in self.samples.difference(&other.samples) {
            let _ = writeln!(out, "  only left:  {s}");
        }
        for s in other.samples.difference(&self.samples) {
            let _ = writeln!(out, "  only right: {s}");
        }
        for (what, left, right) in [
            ("TYPE", &self.types, &other.types),
            ("HELP", &self.help, &other.help),
        ] {
            let names: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
            for name in names {
                if left.get(name) != right.get(name) {
                    let _ = writeln!(
                        out,
                        "  {what} {name}: left {:?}, right {:?}",
                        left.get(name),
                        right.get(name)
                    );
                }
            }
        }
        out
    }
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{{", self.name)?;
        for (i, (name, value)) in self.labels.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{name}={value:?}")?;
        }
        write!(f, "}} {}", self.value)
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("sample without value")?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let value = rest
        .split_whitespace()
        .next()
        .ok_or("sample without value")?;
    labels.sort();
    let value = if MASKED.contains(&name) {
        let v: f64 = value
            .parse()
            .map_err(|_| format!("bad timestamp value {value:?}"))?;
        if v == 0.0 { "zero" } else { "nonzero" }.to_string()
    } else {
        value.to_string()
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `name="value",...}` (the opening brace already consumed), unescaping `\\`, `\"`, `\n`;
/// returns what follows the closing brace.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut Vec<(String, String)>,
) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (name, after) = rest.split_once("=\"").ok_or("label without =\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((name.trim().to_string(), value));
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

// ---- Python: the official client and Google's protobuf runtime ----

/// The interpreter with `prometheus_client` and `protobuf`: `make test` points this at the
/// project's venv.
pub fn python() -> String {
    std::env::var("PUSHGATE_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether the interpreter can import `module`. Under CI it must (`make deps` installs it);
/// elsewhere a test without it says so and skips.
pub fn require_python_module(module: &str) -> bool {
    let ok = Command::new(python())
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || !in_ci(),
        "{} cannot import {module}; run `make deps`",
        python()
    );
    if !ok {
        eprintln!(
            "SKIPPED: {} cannot import {module} (run `make deps`, set PUSHGATE_PYTHON)",
            python()
        );
    }
    ok
}

/// Runs `program args` with `input` on stdin (written from a thread, so a large input cannot
/// deadlock against the output), returning stdout; panics with stderr on failure.
pub fn run(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer thread").expect("write stdin");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `tests/python/<name>`.
pub fn python_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// Runs `tests/python/proto_helper.py` with `args` and `input` (see its usage).
pub fn proto_helper(args: &[&str], input: &[u8]) -> Vec<u8> {
    let script = python_script("proto_helper.py");
    let mut all = vec![script.to_str().expect("UTF-8 path")];
    all.extend_from_slice(args);
    run(&python(), &all, input)
}

// ---- Prometheus ----

/// A Prometheus server on a loopback port, scraping gateways every second with
/// `honor_labels: true`.
pub struct Prometheus {
    pub addr: SocketAddr,
    // Field order matters: the process stops before its directory is removed.
    pub process: Process,
    _dir: TempDir,
}

/// How long Prometheus gets to scrape a push and answer a query about it.
pub const PROMETHEUS_TIMEOUT: Duration = Duration::from_secs(30);

impl Prometheus {
    /// Starts Prometheus scraping `gateway`, with `flags` besides its config, storage and
    /// address.
    pub fn start(gateway: SocketAddr, flags: &[&str]) -> Prometheus {
        Prometheus::start_scraping(&[gateway], flags)
    }

    /// [`Prometheus::start`] scraping every one of `gateways` (as one job, each its own
    /// target and `instance`).
    pub fn start_scraping(gateways: &[SocketAddr], flags: &[&str]) -> Prometheus {
        let dir = TempDir::new("pushgate-prometheus");
        let config = dir.path().join("prometheus.yml");
        let targets: Vec<String> = gateways.iter().map(|g| format!("'{g}'")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n    \
                 static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .expect("write prometheus.yml");
        let storage = dir.path().join("data");
        // Prometheus cannot report a port it picked, so pick one, retry if it is taken meanwhile,
        // and check that whoever answers is ours by its storage path.
        for _ in 0..PORT_ATTEMPTS {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let mut args = vec![
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", storage.display()),
                format!("--web.listen-address={addr}"),
                "--log.level=warn".to_string(),
            ];
            args.extend(flags.iter().map(|f| f.to_string()));
            let mut process = Process::spawn(Path::new("prometheus"), &args);
            if process.wait_http_ok(addr, "/-/ready")
                && serves_flag(addr, "/api/v1/status/flags", &storage)
            {
                return Prometheus {
                    addr,
                    process,
                    _dir: dir,
                };
            }
        }
        panic!("prometheus did not come up on {PORT_ATTEMPTS} free ports");
    }

    /// Polls an instant query until `done` accepts its JSON answer; panics with the last answer,
    /// the targets page and Prometheus' stderr after [`PROMETHEUS_TIMEOUT`].
    pub fn wait_for(&self, query: &str, done: impl Fn(&str) -> bool) -> String {
        let path = format!("/api/v1/query?query={}", percent_encode(query));
        let deadline = Instant::now() + PROMETHEUS_TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(resp) = request(self.addr, "GET", &path, &[], b"") {
                last = resp.text();
                if resp.status == 200 && done(&last) {
                    return last;
                }
            }
            thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "Prometheus did not answer {query} as expected within {PROMETHEUS_TIMEOUT:?}; \
             last answer: {last}\ntargets: {}\nprometheus stderr:\n{}",
            request(self.addr, "GET", "/api/v1/targets", &[], b"")
                .map(|r| r.text())
                .unwrap_or_default(),
            self.process.stderr()
        );
    }
}
