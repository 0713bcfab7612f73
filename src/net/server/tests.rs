use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

use super::*;
use crate::http::service::{Body, Request, Response};

/// Answers 200 to everything, but a turn that saw `/fail` is not committed.
struct Failing {
    failed: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Service for Failing {
    type Stream = ();

    fn handle(
        &mut self,
        req: &crate::http::service::Request<'_>,
    ) -> crate::http::service::Response<()> {
        self.failed |= req.path() == "/fail";
        crate::http::service::Response::text(200, "ok")
    }

    fn fill(&mut self, _: &mut (), _: &mut Vec<u8>, _: usize) -> bool {
        true
    }

    fn turn(&mut self, _now: Instant) -> bool {
        !self.stop.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn committed(&mut self) -> bool {
        !std::mem::take(&mut self.failed)
    }

    fn rejected(&mut self, _: SocketAddr, _: u16, _: &str) {}
}

/// Busy for a number of turns, then asks to stop.
struct Busy {
    turns_left: usize,
}

impl Service for Busy {
    type Stream = ();

    fn handle(
        &mut self,
        _: &crate::http::service::Request<'_>,
    ) -> crate::http::service::Response<()> {
        crate::http::service::Response::empty(204)
    }

    fn fill(&mut self, _: &mut (), _: &mut Vec<u8>, _: usize) -> bool {
        true
    }

    fn turn(&mut self, _now: Instant) -> bool {
        self.turns_left = self.turns_left.saturating_sub(1);
        self.turns_left > 0
    }

    fn busy(&self) -> bool {
        self.turns_left > 0
    }

    fn rejected(&mut self, _: SocketAddr, _: u16, _: &str) {}
}

#[test]
fn a_busy_service_gets_its_turns_without_waiting_for_the_tick() {
    let mut d = Driven::new(ServerConfig::default(), Busy { turns_left: 100 });
    // The clock never moves: one turn per tick would take 25 s of it.
    for _ in 0..99 {
        assert_eq!(d.reactor.wait(&d.svc, d.now), Duration::ZERO);
        d.turn(Duration::ZERO);
        assert!(!d.done);
    }
    d.turn(Duration::ZERO);
    assert!(d.done);
}

#[test]
fn an_uncommitted_turn_answers_503_and_closes() {
    use std::io::{Read, Write};

    let cfg = ServerConfig {
        handle_signals: false,
        ..ServerConfig::default()
    };
    let mut server = Server::bind(&["127.0.0.1:0".to_string()], cfg).unwrap();
    let addr = server.local_addrs()[0];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut svc = Failing {
        failed: false,
        stop: stop.clone(),
    };
    let thread = std::thread::spawn(move || server.run(&mut svc));
    let exchange = |requests: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(requests.as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    // Pipelined in one segment, so answered in the same turn: neither is acknowledged.
    let out = exchange(&(get("/ok") + &get("/fail")));
    assert!(out.starts_with("HTTP/1.1 503 "), "{out}");
    assert_eq!(out.matches("HTTP/1.1").count(), 1, "{out}");
    assert!(
        out.to_ascii_lowercase().contains("connection: close"),
        "{out}"
    );
    let out = exchange(&get("/ok"));
    assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    thread.join().unwrap().unwrap();
}

/// A server turned by hand on a clock the test sets: every turn runs at `now`, so timers are
/// tested without sleeping. The server shares the test's thread, so clients never block.
struct Driven<S: Service> {
    server: Server,
    reactor: Reactor<S::Stream>,
    svc: S,
    start: Instant,
    now: Instant,
    /// A turn reported the shutdown finished.
    done: bool,
}

impl<S: Service> Driven<S> {
    fn new(cfg: ServerConfig, svc: S) -> Driven<S> {
        let cfg = ServerConfig {
            handle_signals: false,
            ..cfg
        };
        let server = Server::bind(&["127.0.0.1:0".to_string()], cfg).unwrap();
        let start = Instant::now();
        let reactor = server.reactor(start).unwrap();
        Driven {
            server,
            reactor,
            svc,
            start,
            now: start,
            done: false,
        }
    }

    fn connect(&self) -> Peer {
        let sock = TcpStream::connect(self.server.local_addrs()[0]).unwrap();
        sock.set_nonblocking(true).unwrap();
        Peer {
            sock,
            got: Vec::new(),
            closed: false,
        }
    }

    /// One turn at `now`, after waiting at most `wait` (real time) for events.
    fn turn(&mut self, wait: Duration) {
        let events = &mut self.reactor.events;
        self.server.wait_events(events, wait).unwrap();
        self.done |= self.server.turn(&mut self.reactor, &mut self.svc, self.now);
    }

    /// Turns, the clock standing still, until `done` holds; what is waited for in real time
    /// is only the loopback's bytes, and boundedly.
    fn until(&mut self, mut done: impl FnMut(&mut Driven<S>) -> bool) {
        for _ in 0..500 {
            self.turn(Duration::from_millis(10));
            if done(self) {
                return;
            }
        }
        panic!("not reached in 500 turns");
    }

    /// Sets the clock to `after` past the start and turns a few times there, for what the
    /// first turn queued.
    fn at(&mut self, after: Duration) {
        self.now = self.start + after;
        for _ in 0..5 {
            self.turn(Duration::from_millis(1));
        }
    }
}

/// A client socket, read without blocking.
struct Peer {
    sock: TcpStream,
    got: Vec<u8>,
    closed: bool,
}

impl Peer {
    fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).unwrap();
    }

    /// Reads what has arrived; true once the server closed the connection.
    fn pull(&mut self) -> bool {
        let mut buf = [0u8; 64 * 1024];
        while !self.closed {
            match self.sock.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => self.closed = true,
                Err(e) => panic!("read: {e}"),
            }
        }
        self.closed
    }

    /// Takes the response that arrived whole (a head and, as all of `Answer`'s but the
    /// stream, a body in the same segment), if one did.
    fn response(&mut self) -> Option<String> {
        self.pull();
        let text = String::from_utf8_lossy(&self.got).into_owned();
        text.contains("\r\n\r\n").then(|| {
            self.got.clear();
            text
        })
    }
}

const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Answers "ok", or a body that never ends at `/stream`; stops when told.
#[derive(Default)]
struct Answer {
    stop: bool,
    fills: usize,
    rejected: Vec<u16>,
}

impl Service for Answer {
    type Stream = ();

    fn handle(&mut self, req: &Request<'_>) -> Response<()> {
        if req.path() == "/stream" {
            return Response {
                status: 200,
                headers: Vec::new(),
                body: Body::Stream(()),
                close: false,
            };
        }
        Response::text(200, "ok")
    }

    fn fill(&mut self, _: &mut (), out: &mut Vec<u8>, want: usize) -> bool {
        out.resize(out.len() + want, b'x');
        self.fills += 1;
        false
    }

    fn turn(&mut self, _now: Instant) -> bool {
        !self.stop
    }

    fn rejected(&mut self, _: SocketAddr, status: u16, _: &str) {
        self.rejected.push(status);
    }
}

/// Long timeouts but the one a test sets.
fn patient() -> ServerConfig {
    ServerConfig {
        idle_timeout: Duration::from_secs(100),
        first_request_timeout: Duration::from_secs(100),
        read_timeout: Duration::from_secs(100),
        write_timeout: Duration::from_secs(100),
        shutdown_timeout: Duration::from_secs(100),
        ..ServerConfig::default()
    }
}

#[test]
fn a_slow_request_gets_408_once_the_read_timeout_passed_and_holds_nobody_up() {
    let mut d = Driven::new(
        ServerConfig {
            read_timeout: ms(600),
            ..patient()
        },
        Answer::default(),
    );
    let mut head = d.connect();
    head.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n");
    let mut body = d.connect();
    body.send(b"PUT /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    let mut other = d.connect();
    other.send(GET);
    // Answered at the very instant the slow requests began.
    d.until(|_| other.response().is_some());

    d.at(ms(600));
    for slow in [&mut head, &mut body] {
        assert!(!slow.pull() && slow.got.is_empty(), "timed out early");
    }
    // Timeouts are checked every tick.
    d.at(ms(600) + TICK);
    for slow in [&mut head, &mut body] {
        let resp = slow.response().expect("a 408");
        assert!(resp.starts_with("HTTP/1.1 408 "), "{resp}");
        assert!(resp.to_ascii_lowercase().contains("connection: close"));
        assert!(slow.pull());
    }
    assert_eq!(d.svc.rejected, [408, 408]);
    other.send(GET);
    d.until(|_| other.response().is_some());
}

#[test]
fn a_new_connection_must_send_its_first_request_in_time() {
    let mut d = Driven::new(
        ServerConfig {
            first_request_timeout: ms(300),
            ..patient()
        },
        Answer::default(),
    );
    let mut prompt = d.connect();
    prompt.send(GET);
    d.until(|_| prompt.response().is_some());
    let mut silent = d.connect();
    let mut partial = d.connect();
    partial.send(b"GET /slow HTTP/1.1\r\nHo");
    // Accepted now: their time starts with the turn that takes them in.
    d.at(Duration::ZERO);
    d.at(ms(299));
    for late in [&mut silent, &mut partial] {
        assert!(!late.pull() && late.got.is_empty(), "closed early");
    }
    d.at(ms(300) + TICK);
    // Nothing asked, nothing answered.
    assert!(silent.pull() && silent.got.is_empty());
    let resp = partial.response().expect("a 408");
    assert!(resp.starts_with("HTTP/1.1 408 "), "{resp}");
    assert!(partial.pull());
    // Past its first request, a connection is kept as long as the idle timeout says.
    d.at(ms(1000));
    prompt.send(GET);
    d.until(|_| prompt.response().is_some());
    assert_eq!(d.svc.rejected, [408]);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_once_the_idle_timeout_passed() {
    let mut d = Driven::new(
        ServerConfig {
            idle_timeout: ms(300),
            ..patient()
        },
        Answer::default(),
    );
    let mut c = d.connect();
    c.send(GET);
    d.until(|_| c.response().is_some());
    d.at(ms(300));
    assert!(!c.pull(), "closed early");
    d.at(ms(300) + TICK);
    assert!(c.pull() && c.got.is_empty());
    assert!(
        d.svc.rejected.is_empty(),
        "an idle close is not a rejection"
    );
}

#[test]
fn a_client_that_stops_reading_is_dropped_once_the_write_timeout_passed() {
    let mut d = Driven::new(
        ServerConfig {
            write_timeout: ms(300),
            ..patient()
        },
        Answer::default(),
    );
    let mut c = d.connect();
    c.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    // Turns until the socket is full: no more of the stream is made.
    d.until(|d| d.svc.fills > 0);
    let (mut fills, mut still) = (0, 0);
    d.until(|d| {
        if d.svc.fills == fills {
            still += 1;
        } else {
            (fills, still) = (d.svc.fills, 0);
        }
        still == 20
    });
    assert_eq!(d.reactor.table.live, 1);

    d.at(ms(300));
    assert_eq!(d.reactor.table.live, 1, "dropped early");
    d.at(ms(300) + TICK);
    assert_eq!(d.reactor.table.live, 0);
    // What the socket buffers hold arrives, then the end.
    d.until(|_| c.pull());
}

#[test]
fn a_shutdown_finishes_in_flight_requests_without_waiting_for_its_bound() {
    let mut d = Driven::new(patient(), Answer::default());
    let mut idle = d.connect();
    idle.send(GET);
    d.until(|_| idle.response().is_some());
    let mut busy = d.connect();
    busy.send(b"PUT /late HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
    d.at(Duration::ZERO);
    d.svc.stop = true;
    // The idle connection goes away, the half-received request is still answered.
    d.until(|_| idle.pull());
    busy.send(b"cd");
    let mut resp = None;
    d.until(|_| {
        resp = busy.response();
        resp.is_some()
    });
    let resp = resp.unwrap_or_default().to_ascii_lowercase();
    assert!(resp.starts_with("http/1.1 200 "), "{resp}");
    assert!(resp.contains("connection: close"), "{resp}");
    d.until(|_| busy.pull());
    drop(busy);
    // Done when the last connection is, the clock not having moved.
    d.until(|d| d.done);
    assert_eq!(d.now, d.start);
    assert!(TcpStream::connect(d.server.local_addrs()[0]).is_err());
}

#[test]
fn a_shutdown_drops_what_is_still_busy_at_its_bound() {
    let mut d = Driven::new(
        ServerConfig {
            shutdown_timeout: Duration::from_secs(2),
            ..patient()
        },
        Answer::default(),
    );
    let mut busy = d.connect();
    busy.send(b"PUT /never HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
    d.at(Duration::ZERO);
    // The bound runs from the turn that sees the stop.
    d.svc.stop = true;
    d.at(Duration::ZERO);
    d.at(Duration::from_secs(2) - ms(1));
    assert!(!d.done && !busy.pull(), "dropped early");
    d.at(Duration::from_secs(2));
    assert!(d.done);
}
