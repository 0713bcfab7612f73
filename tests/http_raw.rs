//! Black-box tests of the HTTP server with raw TCP clients: framing, `Host`, target forms,
//! keep-alive, pipelining, limits, timeouts, requests cut short by a half-close, streaming with
//! backpressure, the turn ordering and shutdown. The service here is a small stand-in; the
//! real application is tested elsewhere.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pushgate::http::service::{Body, Request, Response, Service};
use pushgate::net::server::{Server, ServerConfig};

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    turns: AtomicUsize,
    /// Highest `/commit` id made durable by a turn.
    committed: AtomicUsize,
    fills: AtomicUsize,
    /// Streamed bodies dropped, finished or not.
    streams_dropped: AtomicUsize,
    rejected: Mutex<Vec<u16>>,
}

struct TestService {
    shared: Arc<Shared>,
    next_id: usize,
    uncommitted: Option<usize>,
}

/// A streamed body of `left` more bytes following a fixed pattern.
struct Pattern {
    pos: usize,
    left: usize,
    shared: Arc<Shared>,
}

impl Drop for Pattern {
    fn drop(&mut self) {
        self.shared.streams_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

impl Service for TestService {
    type Stream = Pattern;

    fn handle(&mut self, req: &Request<'_>) -> Response<Pattern> {
        let query_n = || {
            let q = req.target.split_once("n=").map_or("", |(_, n)| n);
            q.parse::<usize>().unwrap_or(0)
        };
        match req.path() {
            "/stream" => Response {
                status: 200,
                headers: vec![("Content-Type", "application/octet-stream".into())],
                body: Body::Stream(Pattern {
                    pos: 0,
                    left: query_n(),
                    shared: Arc::clone(&self.shared),
                }),
                close: false,
            },
            "/echo-body" => Response {
                status: 200,
                headers: Vec::new(),
                body: Body::Bytes(req.body.to_vec()),
                close: false,
            },
            "/commit" => {
                self.next_id += 1;
                self.uncommitted = Some(self.next_id);
                Response::text(200, self.next_id.to_string())
            }
            "/no-content" => Response::empty(204),
            "/fixed" => Response::text(200, "the same for GET and HEAD"),
            _ => Response::text(
                200,
                format!("{} {} {}\n", req.method, req.target, req.body.len()),
            ),
        }
    }

    fn fill(&mut self, s: &mut Pattern, out: &mut Vec<u8>, want: usize) -> bool {
        let n = want.min(s.left);
        out.extend((s.pos..s.pos + n).map(pattern_byte));
        s.pos += n;
        s.left -= n;
        self.shared.fills.fetch_add(1, Ordering::SeqCst);
        s.left == 0
    }

    fn turn(&mut self, _now: Instant) -> bool {
        self.shared.turns.fetch_add(1, Ordering::SeqCst);
        if let Some(id) = self.uncommitted.take() {
            // A slow "fsync": a response sent before the turn would beat it to the client.
            thread::sleep(Duration::from_millis(50));
            self.shared.committed.store(id, Ordering::SeqCst);
        }
        !self.shared.stop.load(Ordering::SeqCst)
    }

    fn rejected(&mut self, _remote: SocketAddr, status: u16, _reason: &str) {
        self.shared.rejected.lock().unwrap().push(status);
    }
}

struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

fn config() -> ServerConfig {
    ServerConfig {
        max_header_bytes: 8 * 1024,
        max_body_bytes: 1 << 20,
        max_inflight_bytes: 64 << 20,
        read_timeout: Duration::from_millis(600),
        idle_timeout: Duration::from_secs(10),
        first_request_timeout: Duration::from_secs(10),
        write_timeout: Duration::from_secs(10),
        max_connections: 100,
        max_connections_per_ip: 0,
        shutdown_timeout: Duration::from_secs(2),
        handle_signals: false,
        #[cfg(feature = "tls")]
        tls: None,
    }
}

fn start(cfg: ServerConfig) -> TestServer {
    let mut server = Server::bind(&["127.0.0.1:0".to_string()], cfg).unwrap();
    let addr = server.local_addrs()[0];
    let shared = Arc::new(Shared::default());
    let mut svc = TestService {
        shared: Arc::clone(&shared),
        next_id: 0,
        uncommitted: None,
    };
    let thread = thread::spawn(move || server.run(&mut svc));
    TestServer {
        addr,
        shared,
        thread: Some(thread),
    }
}

impl TestServer {
    /// Asks the server to stop and waits for `run` to return.
    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.thread.take() {
            let result = h.join().expect("server thread panicked");
            if !thread::panicking() {
                result.expect("server returned an error");
            }
        }
    }

    fn connect(&self) -> Client {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        Client {
            r: BufReader::new(s),
        }
    }

    fn rejected(&self) -> Vec<u16> {
        self.shared.rejected.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Client {
    r: BufReader<TcpStream>,
}

#[derive(Debug)]
struct Resp {
    version: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    fn send(&mut self, bytes: &[u8]) {
        self.r.get_mut().write_all(bytes).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        assert!(line.ends_with("\r\n"), "truncated line {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    /// Reads a status line and headers.
    fn head(&mut self) -> Resp {
        let status_line = self.line();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').expect("header line");
            headers.push((n.to_string(), v.trim().to_string()));
        }
        Resp {
            version,
            status,
            headers,
            body: Vec::new(),
        }
    }

    /// Reads a whole response; `head_request` means no body follows whatever the headers say.
    fn response_to(&mut self, head_request: bool) -> Resp {
        let mut resp = self.head();
        if head_request || resp.status == 204 || resp.status == 304 {
            return resp;
        }
        if let Some(n) = resp.header("content-length") {
            resp.body = vec![0; n.parse().unwrap()];
            self.r.read_exact(&mut resp.body).unwrap();
        } else if resp.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = usize::from_str_radix(&self.line(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.r.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                resp.body.extend_from_slice(&chunk[..size]);
            }
        } else {
            self.r.read_to_end(&mut resp.body).unwrap();
        }
        resp
    }

    fn response(&mut self) -> Resp {
        self.response_to(false)
    }

    fn get(&mut self, target: &str) -> Resp {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.response()
    }

    /// Ends our side of the connection; the server can still answer.
    fn half_close(&mut self) {
        self.r.get_ref().shutdown(Shutdown::Write).unwrap();
    }

    /// Everything the server sends until it closes the connection.
    fn rest(&mut self) -> String {
        let mut raw = Vec::new();
        self.r.read_to_end(&mut raw).unwrap();
        String::from_utf8_lossy(&raw).into_owned()
    }

    /// True once the server closed the connection (EOF or reset), within the read timeout.
    fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.r.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

#[test]
fn simple_get() {
    let server = start(config());
    let resp = server.connect().get("/hello?x=1");
    assert_eq!((resp.version.as_str(), resp.status), ("HTTP/1.1", 200));
    assert_eq!(resp.text(), "GET /hello?x=1 0\n");
    assert!(resp.header("date").is_some_and(|d| d.ends_with(" GMT")));
    assert_eq!(resp.header("content-length"), Some("17"));
    assert_eq!(resp.header("connection"), None);
}

#[test]
fn keep_alive_serves_many_requests() {
    let server = start(config());
    let mut c = server.connect();
    for i in 0..20 {
        let body = "x".repeat(i);
        c.send(
            format!("PUT /k/{i} HTTP/1.1\r\nHost: t\r\nContent-Length: {i}\r\n\r\n{body}")
                .as_bytes(),
        );
        assert_eq!(c.response().text(), format!("PUT /k/{i} {i}\n"));
    }
    assert_eq!(c.get("/no-content").status, 204);
    assert_eq!(c.get("/last").text(), "GET /last 0\n");
}

#[test]
fn pipelined_responses_stay_in_order() {
    let server = start(config());
    let mut c = server.connect();
    c.send(
        b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nPOST /2 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
          GET /3 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    for want in ["GET /1 0\n", "POST /2 3\n", "GET /3 0\n"] {
        assert_eq!(c.response().text(), want);
    }
    // A request queued behind a streamed response waits for the whole stream.
    c.send(
        b"GET /stream?n=300000 HTTP/1.1\r\nHost: t\r\n\r\nGET /after HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let streamed = c.response();
    assert_eq!(streamed.body.len(), 300_000);
    assert!(streamed
        .body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(i)));
    assert_eq!(c.response().text(), "GET /after 0\n");
}

#[test]
fn chunked_request_body() {
    let server = start(config());
    let mut c = server.connect();
    c.send(
        b"POST /echo-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert_eq!(c.response().text(), "hello, world");
    // Split at awkward places across writes.
    c.send(b"POST /echo-body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r");
    thread::sleep(Duration::from_millis(20));
    c.send(b"\nabc\r\n0\r\n");
    thread::sleep(Duration::from_millis(20));
    c.send(b"\r\n");
    assert_eq!(c.response().text(), "abc");
}

#[test]
fn expect_100_continue() {
    let server = start(config());
    let mut c = server.connect();
    c.send(b"PUT /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let interim = c.head();
    assert_eq!((interim.status, interim.headers.len()), (100, 0));
    c.send(b"hello");
    assert_eq!(c.response().text(), "PUT /e 5\n");
}

#[test]
fn head_has_length_but_no_body() {
    let server = start(config());
    let mut c = server.connect();
    let get = c.get("/fixed");
    c.send(b"HEAD /fixed HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.response_to(true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), get.header("content-length"));
    // Had a body leaked, this response would be misread.
    assert_eq!(c.get("/next").text(), "GET /next 0\n");
}

#[test]
fn connection_close_closes() {
    let server = start(config());
    let mut c = server.connect();
    c.send(b"GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let resp = c.response();
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(c.closed());
}

#[test]
fn http_1_0() {
    let server = start(config());
    let mut c = server.connect();
    c.send(b"GET /old HTTP/1.0\r\n\r\n");
    let resp = c.response();
    assert_eq!(
        (resp.version.as_str(), resp.text().as_str()),
        ("HTTP/1.0", "GET /old 0\n")
    );
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(c.closed());

    let mut c = server.connect();
    for _ in 0..2 {
        c.send(b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(c.response().header("connection"), Some("keep-alive"));
    }
    // No chunked coding in HTTP/1.0: the body ends with the connection.
    c.send(b"GET /stream?n=100000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let streamed = c.response();
    assert_eq!(streamed.header("transfer-encoding"), None);
    assert_eq!(streamed.body.len(), 100_000);
}

#[test]
fn oversized_headers_get_431() {
    let server = start(config());
    let mut c = server.connect();
    let big = "a".repeat(16 * 1024);
    c.send(format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let resp = c.response();
    assert_eq!(resp.status, 431);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(c.closed());
    assert_eq!(server.rejected(), [431]);
}

#[test]
fn oversized_body_gets_413_before_it_is_sent() {
    let server = start(config());
    let mut c = server.connect();
    c.send(b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n");
    let resp = c.response();
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (413, "request body too large\n")
    );
    assert!(c.closed());

    // With Expect, the client learns it before sending anything, and never sees 100.
    let mut c = server.connect();
    c.send(
        b"PUT /big HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n",
    );
    assert_eq!(c.response().status, 413);
    assert_eq!(server.rejected(), [413, 413]);
}

#[test]
fn malformed_request_only_affects_its_connection() {
    let server = start(config());
    let mut good = server.connect();
    assert_eq!(good.get("/before").status, 200);
    let mut bad = server.connect();
    bad.send(b"THIS IS NOT HTTP\r\n\r\n");
    let resp = bad.response();
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(resp.text().lines().count(), 1);
    assert!(bad.closed());
    let mut binary = server.connect();
    binary.send(&[0x16, 0x03, 0x01, 0x00, 0xff, b'\n', b'\n']);
    assert_eq!(binary.response().status, 400);
    assert_eq!(good.get("/after").text(), "GET /after 0\n");
    assert_eq!(server.rejected(), [400, 400]);
}

#[test]
fn slowloris_does_not_block_others_and_times_out() {
    let server = start(config());
    let mut slow_head = server.connect();
    slow_head.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n");
    let mut slow_body = server.connect();
    slow_body.send(b"PUT /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    let t = Instant::now();
    let mut other = server.connect();
    assert_eq!(other.get("/quick").status, 200);

    for c in [&mut slow_head, &mut slow_body] {
        let resp = c.response();
        assert_eq!(resp.status, 408);
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(c.closed());
    }
    // read_timeout 600 ms, checked every 250 ms; how late at most, and that the quick
    // request did not wait, the server's own tests show on a clock they set.
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(550), "{waited:?}");
    assert_eq!(server.rejected(), [408, 408]);
    assert_eq!(other.get("/still-fine").status, 200);
}

#[test]
fn slow_reader_gets_whole_stream_while_others_are_served() {
    const SIZE: usize = 5_000_000;
    let server = start(config());
    let mut slow = server.connect();
    slow.send(format!("GET /stream?n={SIZE} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    let reader = thread::spawn(move || {
        let resp = slow.head();
        assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        while !raw.ends_with(b"\r\n0\r\n\r\n") {
            let n = slow.r.read(&mut buf).unwrap();
            assert!(n > 0, "stream cut short after {} bytes", raw.len());
            raw.extend_from_slice(&buf[..n]);
            thread::sleep(Duration::from_millis(2));
        }
        dechunk(&raw)
    });
    thread::sleep(Duration::from_millis(100));
    let mut other = server.connect();
    for i in 0..5 {
        let t = Instant::now();
        assert_eq!(other.get(&format!("/p{i}")).status, 200);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
    }
    let body = reader.join().unwrap();
    assert_eq!(body.len(), SIZE);
    assert!(body.iter().enumerate().all(|(i, &b)| b == pattern_byte(i)));
    // Produced piece by piece as the socket drained, not built in one go.
    assert!(server.shared.fills.load(Ordering::SeqCst) >= SIZE / (64 * 1024));
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        assert_eq!(&raw[eol + 2 + size..eol + 4 + size], b"\r\n");
        raw = &raw[eol + 4 + size..];
    }
}

#[test]
fn responses_leave_only_after_turn() {
    let server = start(config());
    let mut c = server.connect();
    for _ in 0..3 {
        let id: usize = c.get("/commit").text().trim().parse().unwrap();
        // The turn that committed `id` sleeps before recording it; an early response
        // would arrive while `committed` is still behind.
        assert!(server.shared.committed.load(Ordering::SeqCst) >= id);
    }
    assert!(server.shared.turns.load(Ordering::SeqCst) >= 3);
}

#[test]
fn a_full_table_closes_the_longest_idle_connection_to_admit_a_new_one() {
    let server = start(ServerConfig {
        max_connections: 3,
        ..config()
    });
    let mut a = server.connect();
    let mut b = server.connect();
    let mut c = server.connect();
    // Idle since their last answers, `a` the longest.
    for (conn, path) in [(&mut a, "/a"), (&mut b, "/b"), (&mut c, "/c")] {
        assert_eq!(conn.get(path).status, 200);
    }
    let mut d = server.connect();
    assert_eq!(d.get("/d").status, 200);
    assert!(a.closed());
    assert_eq!(b.get("/b").status, 200);
    assert_eq!(c.get("/c").status, 200);

    // With every connection in the middle of a request, none gives way to a newcomer.
    for conn in [&mut b, &mut c, &mut d] {
        conn.send(b"PUT /busy HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n");
    }
    let mut e = server.connect();
    assert!(e.closed());
    for conn in [&mut b, &mut c, &mut d] {
        conn.send(b"ok");
        assert_eq!(conn.response().text(), "PUT /busy 2\n");
    }
    assert!(
        server.rejected().is_empty(),
        "making room is not a rejection"
    );
}

#[test]
fn a_new_connection_must_send_its_first_request_in_time() {
    let server = start(ServerConfig {
        first_request_timeout: Duration::from_millis(300),
        read_timeout: Duration::from_secs(10),
        ..config()
    });
    let mut prompt = server.connect();
    assert_eq!(prompt.get("/first").status, 200);
    let mut silent = server.connect();
    let mut partial = server.connect();
    partial.send(b"GET /slow HTTP/1.1\r\nHo");

    // Nothing asked, nothing answered.
    assert_eq!(silent.rest(), "");
    let resp = partial.response();
    assert_eq!(resp.status, 408);
    assert!(partial.closed());
    // Past the first request, a connection is kept as long as the idle timeout says: the
    // prompt one was accepted first, so its first deadline passed before the partial one's.
    assert_eq!(prompt.get("/second").status, 200);
    assert_eq!(server.rejected(), [408]);
}

#[test]
fn connections_from_one_address_are_capped() {
    let server = start(ServerConfig {
        max_connections_per_ip: 2,
        ..config()
    });
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.get("/a").status, 200);
    assert_eq!(b.get("/b").status, 200);
    assert!(server.connect().closed());
    drop(a);
    // The server learns of the close on its next turn; until then the cap still counts it.
    let admitted = (0..100).any(|_| {
        let mut c = server.connect();
        c.send(b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut first = [0u8; 1];
        let answered = matches!(c.r.read(&mut first), Ok(1));
        if !answered {
            thread::sleep(Duration::from_millis(20));
        }
        answered
    });
    assert!(admitted);
    assert_eq!(b.get("/b").status, 200);
}

#[test]
fn idle_keep_alive_connection_is_closed() {
    let server = start(ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..config()
    });
    let mut c = server.connect();
    assert_eq!(c.get("/x").status, 200);
    let t = Instant::now();
    assert!(c.closed());
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    assert!(
        server.rejected().is_empty(),
        "an idle close is not a rejection"
    );
}

#[test]
fn stalled_reader_is_dropped() {
    let server = start(ServerConfig {
        write_timeout: Duration::from_millis(300),
        ..config()
    });
    let mut c = server.connect();
    c.send(b"GET /stream?n=200000000 HTTP/1.1\r\nHost: t\r\n\r\n");
    // Not read until the server gave up on the stream (dropped it unfinished).
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.shared.streams_dropped.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the stalled reader was kept");
        thread::sleep(Duration::from_millis(20));
    }
    // What the socket buffers hold arrives, then the end: the server gave up on us.
    let mut sink = Vec::new();
    let got = match c.r.read_to_end(&mut sink) {
        Ok(_) => sink.len(),
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
            0
        }
    };
    assert!(got < 200_000_000);
    assert_eq!(server.connect().get("/alive").status, 200);
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests() {
    let mut server = start(config());
    let mut idle = server.connect();
    assert_eq!(idle.get("/x").status, 200);
    let mut busy = server.connect();
    busy.send(b"PUT /late HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
    thread::sleep(Duration::from_millis(50));
    server.shared.stop.store(true, Ordering::SeqCst);
    // The idle connection goes away, the half-received request is still answered.
    assert!(idle.closed());
    busy.send(b"cd");
    let resp = busy.response();
    assert_eq!(resp.text(), "PUT /late 4\n");
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(busy.closed());
    // That it ends when the last connection does, not at its bound, the server's own tests
    // show on a clock they set.
    server.stop();
    assert!(TcpStream::connect(server.addr).is_err());
}

#[test]
fn host_is_required_once_and_well_formed() {
    let server = start(config());
    // Upstream's (Go's) bare answers, byte for byte: no Date, no length, ended by the close.
    let bare = |line: &str| {
        format!(
            "HTTP/1.1 {line}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Connection: close\r\n\r\n{line}"
        )
    };
    let cases: [(&[u8], &str); 4] = [
        (
            b"GET /a HTTP/1.1\r\n\r\n",
            "400 Bad Request: missing required Host header",
        ),
        (
            b"GET /a HTTP/1.1\r\nHost: a b\r\n\r\n",
            "400 Bad Request: malformed Host header",
        ),
        (
            b"GET /a HTTP/1.0\r\nHost: a@b\r\n\r\n",
            "400 Bad Request: malformed Host header",
        ),
        (
            b"GET /a HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
            "400 Bad Request",
        ),
    ];
    for (request, line) in cases {
        let mut c = server.connect();
        c.send(request);
        assert_eq!(c.rest(), bare(line), "{}", String::from_utf8_lossy(request));
    }
    assert_eq!(server.rejected(), [400; 4]);
    // HTTP/1.0 may leave it out; an empty one and an IP literal with a port are valid.
    let mut c = server.connect();
    c.send(b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.response().text(), "GET /old 0\n");
    for host in ["", "[::1]:9091"] {
        c.send(format!("GET /h HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!(c.response().text(), "GET /h 0\n");
    }
}

#[test]
fn absolute_form_target_is_served_as_its_path() {
    let server = start(config());
    let mut c = server.connect();
    c.send(b"PUT http://127.0.0.1:9091/metrics/job/x?a=b HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nm 1\n");
    assert_eq!(c.response().text(), "PUT /metrics/job/x?a=b 4\n");
    c.send(b"GET https://user@h?q=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "GET /?q=1 0\n");
}

#[test]
fn options_asterisk_is_answered_by_the_server() {
    let server = start(config());
    let mut c = server.connect();
    // A body is read and dropped; the connection stays usable.
    c.send(b"OPTIONS * HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    let resp = c.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("0"));
    assert_eq!(resp.header("content-type"), None);
    assert_eq!(c.get("/next").text(), "GET /next 0\n");
    // The asterisk is for OPTIONS only.
    let mut c = server.connect();
    c.send(b"GET * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().status, 400);
    assert!(c.closed());
    assert_eq!(server.rejected(), [400]);
}

#[test]
fn request_cut_short_by_a_half_close_gets_400() {
    let server = start(config());
    // A body shorter than its length, a chunked body without its end, a head without its end.
    let requests: [&[u8]; 3] = [
        b"PUT /short HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nm 1",
        b"PUT /short HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nm 1",
        b"GET /short HTTP/1.1\r\nHost: t\r\n",
    ];
    for request in requests {
        let mut c = server.connect();
        c.send(request);
        c.half_close();
        let resp = c.response();
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (400, "unexpected EOF\n"),
            "{}",
            String::from_utf8_lossy(request)
        );
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(c.closed());
    }
    assert_eq!(server.rejected(), [400; 3]);
    // A whole request before the half-close is answered as usual.
    let mut c = server.connect();
    c.send(b"PUT /whole HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab");
    c.half_close();
    assert_eq!(c.response().text(), "PUT /whole 2\n");
    assert!(c.closed());
    assert_eq!(server.rejected(), [400; 3]);
}

#[test]
fn pipelined_requests_past_a_turns_share_then_a_half_close_are_all_answered() {
    let server = start(config());
    let mut c = server.connect();
    // Far more than one turn serves of a connection: the rest wait for the next turns, and
    // the end of the input is not taken for a request cut short.
    c.send(&b"PUT /p HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab".repeat(500));
    c.half_close();
    for _ in 0..500 {
        assert_eq!(c.response().text(), "PUT /p 2\n");
    }
    assert!(c.closed());
    assert!(server.rejected().is_empty());
}

#[test]
fn requests_past_the_memory_budget_wait_and_the_largest_are_shed() {
    const BODY: usize = 1_000_000;
    const SENT: usize = 900_000;
    const PATIENCE: Duration = Duration::from_secs(20);
    let server = start(ServerConfig {
        max_inflight_bytes: 2 << 20,
        read_timeout: Duration::from_secs(30),
        ..config()
    });
    let connect = || {
        let s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s.set_write_timeout(Some(PATIENCE)).unwrap();
        s
    };
    // Pushes that stall short of their end, half of them chunked: together they want more
    // than twice the budget.
    let mut stalled = Vec::new();
    let attackers: Vec<JoinHandle<String>> = (0..6)
        .map(|i| {
            let mut s = connect();
            stalled.push(s.try_clone().unwrap());
            thread::spawn(move || {
                let head = if i % 2 == 0 {
                    format!("PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: {BODY}\r\n\r\n")
                } else {
                    format!(
                        "PUT /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{BODY:x}\r\n"
                    )
                };
                let _ = s
                    .write_all(head.as_bytes())
                    .and_then(|()| s.write_all(&[b'x'; SENT]));
                let mut answer = Vec::new();
                let _ = s.read_to_end(&mut answer);
                String::from_utf8_lossy(&answer).into_owned()
            })
        })
        .collect();

    // Small requests are not held back, whatever the others hold.
    let mut small = server.connect();
    for i in 0..20 {
        let body = "m 1\n".repeat(2000);
        small.send(
            format!(
                "PUT /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(small.response().body.len(), body.len(), "request {i}");
    }
    // A push of the largest size that does finish waits for memory, which shedding the
    // stalled ones frees.
    let mut whole = BufReader::new(connect());
    let body: Vec<u8> = (0..BODY).map(pattern_byte).collect();
    whole
        .get_mut()
        .write_all(
            format!("PUT /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: {BODY}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    whole.get_mut().write_all(&body).unwrap();
    let resp = Client { r: whole }.response();
    assert_eq!(resp.status, 200);
    assert!(resp.body == body, "the echo differs");

    let shed = server.rejected();
    assert!(
        !shed.is_empty() && shed.iter().all(|&s| s == 503),
        "{shed:?}"
    );
    for s in &stalled {
        let _ = s.shutdown(Shutdown::Both);
    }
    let answers: Vec<String> = attackers.into_iter().map(|t| t.join().unwrap()).collect();
    let told = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 503 ") && a.contains("\r\nRetry-After: 1\r\n"))
        .count();
    assert!(told >= 1, "{answers:?}");
}
