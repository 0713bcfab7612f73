//! Black-box tests of hostile connections: requests that stall half-received to hold memory,
//! sockets that hold connection slots without sending anything, a connection pipelining
//! requests (reading none of the answers, or reading them as fast as they come), and scrapes
//! that are never read. Clients that behave must be served throughout, the server's peak
//! memory must stay in proportion to its budget of bytes in flight, and the offenders are
//! held back or shed. What the attacks cost in latency and memory at full size is measured in
//! `benches/floods.rs`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::util::{self, Server, Target};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// A field of `/proc/<pid>/status` (`VmRSS`, or the peak `VmHWM`), in bytes.
fn memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix(" kB")?.parse::<u64>().ok())
        .expect("a size in kB")
        * KIB
}

/// Opens `n` connections that send `head` and then `filler` bytes and never finish, writing
/// as far as the server reads (and the kernel buffers) until `deadline`. Returns them, still
/// open.
fn send_stalled(
    addr: SocketAddr,
    n: usize,
    head: &str,
    filler: usize,
    deadline: Instant,
) -> Vec<TcpStream> {
    let message = [head.as_bytes(), &vec![b'a'; filler]].concat();
    let mut conns: Vec<(TcpStream, usize)> = (0..n)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            (s, 0)
        })
        .collect();
    while Instant::now() < deadline {
        let mut progress = false;
        for (s, sent) in conns.iter_mut().filter(|(_, sent)| *sent < message.len()) {
            match s.write(&message[*sent..]) {
                Ok(k) => {
                    *sent += k;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // Shed: the server closed it.
                Err(_) => *sent = message.len(),
            }
        }
        if !progress {
            thread::sleep(Duration::from_millis(10));
        }
    }
    conns.into_iter().map(|(s, _)| s).collect()
}

/// A client that behaves: small pushes, each on a new connection, until `stop` (at most
/// 5,000). Returns the status of each (0 for a failed exchange).
fn keep_pushing(addr: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<Vec<u16>> {
    thread::spawn(move || {
        let mut statuses = Vec::new();
        while !stop.load(Ordering::SeqCst) && statuses.len() < 5000 {
            let path = format!("/metrics/job/calm/instance/i{}", statuses.len() % 10);
            let r = util::request(addr, "PUT", &path, &[], b"calm_pushes 1\n");
            statuses.push(r.map_or(0, |r| r.status));
        }
        statuses
    })
}

#[test]
fn stalled_requests_hold_no_more_memory_than_the_budget() {
    const BUDGET: u64 = 8 * MIB;
    const HEADS: usize = 100;
    const BODIES: usize = 10;
    let s = Server::start(
        Target::Pushgate,
        &[
            "--push.max-body-bytes=4000000",
            &format!("--web.max-inflight-bytes={BUDGET}"),
        ],
    );
    let pid = s.pid();
    let before = memory(pid, "VmRSS");
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = keep_pushing(s.addr, stop.clone());
    // Together they would hold about 75 MB: heads of 400 KB never ended, and bodies
    // stopped 400 KB short of their announced 3.9 MB.
    let deadline = Instant::now() + Duration::from_secs(5);
    let addr = s.addr;
    let heads = thread::spawn(move || {
        let head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ";
        send_stalled(addr, HEADS, head, 400_000, deadline)
    });
    let head = "PUT /metrics/job/flood HTTP/1.1\r\nHost: x\r\nContent-Length: 3900000\r\n\r\n";
    let bodies = send_stalled(addr, BODIES, head, 3_500_000, deadline);
    let heads = heads.join().expect("heads sent");
    stop.store(true, Ordering::SeqCst);
    let statuses = pusher.join().expect("pusher");
    let peak = memory(pid, "VmHWM");

    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|&st| st == 200),
        "{:?}; stderr:\n{}",
        statuses.iter().filter(|&&st| st != 200).collect::<Vec<_>>(),
        s.stderr()
    );
    // The budget and each connection's free allowance, and as much again for what the
    // allocator keeps and the parsed heads the budget lets through. Unbounded, the attack
    // takes about 90 MiB.
    let allowance = (HEADS + BODIES) as u64 * 16 * KIB;
    let grew = peak.saturating_sub(before);
    assert!(
        grew < 2 * BUDGET + allowance,
        "peak RSS grew by {} MiB",
        grew / MIB
    );
    // Shedding is logged as a rejection; the log is read in the background.
    let shed = (0..100).any(|_| {
        thread::sleep(Duration::from_millis(20));
        s.stderr().contains("status=503")
    });
    assert!(shed, "{}", s.stderr());
    drop(heads);
    drop(bodies);
    assert_eq!(s.get("/-/healthy").status, 200);
}

#[test]
fn silent_connections_give_way_to_clients_that_speak() {
    const SLOTS: usize = 100;
    let s = Server::start(
        Target::Pushgate,
        &[
            &format!("--web.max-connections={SLOTS}"),
            "--web.first-request-timeout=2s",
        ],
    );
    let status = s.get("/api/v1/status").text();
    assert!(
        status.contains(r#""web.first-request-timeout":"2s""#),
        "{status}"
    );
    let mut silent: Vec<TcpStream> = (0..SLOTS)
        .map(|_| TcpStream::connect(s.addr).expect("connect"))
        .collect();
    // Every slot is taken; each new client that speaks gets the slot idle the longest.
    for i in 0..SLOTS / 2 {
        let path = format!("/metrics/job/speaks/instance/i{i}");
        assert_eq!(s.request("PUT", &path, &[], b"spoken 1\n").status, 200);
    }
    // The rest are closed once the first-request timeout passes, without an answer.
    for sock in &mut silent {
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut got = Vec::new();
        match sock.read_to_end(&mut got) {
            Ok(_) => assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got)),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        }
    }
    assert!(!s.stderr().contains("request rejected"), "{}", s.stderr());
}

/// Pipelined pushes to 100 groups of job `pipe`, back to back.
fn pipelined_pushes() -> Vec<u8> {
    let mut batch = Vec::new();
    for i in 0..100 {
        let body = "pipe_pushes 1\n";
        batch.extend_from_slice(
            format!(
                "PUT /metrics/job/pipe/instance/i{i} HTTP/1.1\r\nHost: x\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    batch
}

/// Status lines in `bytes` (answers on one connection), and how many of them say 200; `tail`
/// keeps the last bytes, which may hold the start of a status line the next read ends.
fn count_answers(tail: &mut Vec<u8>, bytes: &[u8]) -> (usize, usize) {
    tail.extend_from_slice(bytes);
    let lines = tail.windows(12).filter(|w| w.starts_with(b"HTTP/1.1 "));
    let (all, ok) = lines.fold((0, 0), |(all, ok), w| {
        (all + 1, ok + usize::from(w.ends_with(b"200")))
    });
    // Too short to hold a whole status line: none is counted twice.
    tail.drain(..tail.len().saturating_sub(11));
    (all, ok)
}

#[test]
fn a_client_pipelining_without_reading_is_held_back_while_others_are_served() {
    let s = Server::start(Target::Pushgate, &[]);
    let pid = s.pid();
    let before = memory(pid, "VmRSS");
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = keep_pushing(s.addr, stop.clone());
    let batch = pipelined_pushes();
    let mut flood = TcpStream::connect(s.addr).expect("connect");
    flood.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut written = 0;
    while Instant::now() < deadline {
        match flood.write(&batch[written % batch.len()..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("the pipelining connection failed: {e}"),
        }
    }
    stop.store(true, Ordering::SeqCst);
    let statuses = pusher.join().expect("pusher");
    let peak = memory(pid, "VmHWM");

    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|&st| st == 200), "{statuses:?}");
    // Once its answers went unread the server read no further, so the socket took what the
    // kernel's buffers hold: a few MB, where 3 s of writing over loopback would be gigabytes.
    assert!(written < 64 * MIB as usize, "{written} bytes taken");
    let grew = peak.saturating_sub(before);
    assert!(grew < 16 * MIB, "peak RSS grew by {} MiB", grew / MIB);
    // Read now, and the answers come, in order.
    flood.set_nonblocking(false).expect("blocking");
    flood
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (mut tail, mut buf) = (Vec::new(), vec![0u8; 64 << 10]);
    let (mut answers, mut ok) = (0, 0);
    while answers < 2000 {
        let n = flood.read(&mut buf).expect("answers");
        assert!(n > 0, "closed after {answers} answers");
        let (a, o) = count_answers(&mut tail, &buf[..n]);
        answers += a;
        ok += o;
    }
    assert_eq!(ok, answers);
}

#[test]
fn a_client_pipelining_as_fast_as_it_reads_leaves_turns_to_others() {
    let s = Server::start(Target::Pushgate, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let flood = TcpStream::connect(s.addr).expect("connect");
    let mut reader = flood.try_clone().expect("clone");
    let read_stop = stop.clone();
    let reader = thread::spawn(move || {
        reader
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let (mut tail, mut buf) = (Vec::new(), vec![0u8; 256 << 10]);
        let (mut answers, mut ok) = (0, 0);
        while !read_stop.load(Ordering::SeqCst) {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let (a, o) = count_answers(&mut tail, &buf[..n]);
                    answers += a;
                    ok += o;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("reading the answers: {e}"),
            }
        }
        (answers, ok)
    });
    let write_stop = stop.clone();
    let writer = thread::spawn(move || {
        let batch = pipelined_pushes();
        let mut flood = flood;
        flood
            .set_write_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        while !write_stop.load(Ordering::SeqCst) {
            match flood.write_all(&batch) {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("pipelining: {e}"),
            }
        }
    });
    thread::sleep(Duration::from_millis(300));
    // Pushes on new connections, timed one by one while the flood goes on.
    let mut times = Vec::new();
    for i in 0..100 {
        let t = Instant::now();
        let path = format!("/metrics/job/calm/instance/i{}", i % 10);
        let r = util::request(s.addr, "PUT", &path, &[], b"calm_pushes 1\n").expect("push");
        assert_eq!(r.status, 200);
        times.push(t.elapsed());
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let (answers, ok) = reader.join().expect("reader");
    times.sort();
    // A turn serves a few dozen of the flood's requests before the others get theirs: a
    // push waits for a turn or two. Serving whatever a megabyte of input holds, ten thousand
    // pushes, makes each turn take around 100 ms in this (debug) build.
    let median = times[times.len() / 2];
    assert!(median < Duration::from_millis(25), "median push {median:?}");
    assert!(answers > 1000, "the flood got {answers} answers");
    assert_eq!(ok, answers);
}

/// Stores `groups` groups of `series` series of one family, over one keep-alive connection.
fn fill_store(addr: SocketAddr, groups: usize, series: usize) {
    let mut client = util::Client::new(addr);
    for g in 0..groups {
        let mut body = String::from("# TYPE flood_bytes gauge\n");
        for i in 0..series {
            body.push_str(&format!(
                "flood_bytes{{disk=\"d{i}\"}} {}\n",
                g * 1_000_003 + i
            ));
        }
        assert_eq!(
            client.push(&format!("/metrics/job/big/instance/h{g}"), &body),
            200
        );
    }
}

#[test]
fn scrapes_never_read_hold_no_more_memory_than_the_budget() {
    const BUDGET: u64 = 8 * MIB;
    const SCRAPERS: usize = 20;
    let s = Server::start(
        Target::Pushgate,
        &[
            "--push.max-body-bytes=4000000",
            &format!("--web.max-inflight-bytes={BUDGET}"),
        ],
    );
    let pid = s.pid();
    // One family of 200,000 series: 11 MB in protobuf, which a scrape builds whole before it
    // sends any of it (its length comes first).
    fill_store(s.addr, 200, 1000);
    let protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                    encoding=delimited";
    let before = memory(pid, "VmRSS");
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = keep_pushing(s.addr, stop.clone());
    let stalled: Vec<TcpStream> = (0..SCRAPERS)
        .map(|i| {
            let mut c = TcpStream::connect(s.addr).expect("connect");
            let accept = if i % 4 == 0 { "text/plain" } else { protobuf };
            c.write_all(
                format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n").as_bytes(),
            )
            .expect("ask");
            c
        })
        .collect();
    thread::sleep(Duration::from_secs(6));
    stop.store(true, Ordering::SeqCst);
    let statuses = pusher.join().expect("pusher");
    let peak = memory(pid, "VmHWM");

    assert!(!statuses.is_empty());
    assert!(statuses.iter().all(|&st| st == 200), "{statuses:?}");
    // The budget, or a family larger than the budget built by a scrape alone and copied
    // out, and a few MiB the allocator keeps. Unbounded, each protobuf scrape takes about
    // 20 MB, as fast as this (debug) build encodes them: over 100 MiB in 6 s.
    let grew = peak.saturating_sub(before);
    assert!(
        grew < BUDGET + 32 * MIB,
        "peak RSS grew by {} MiB",
        grew / MIB
    );
    drop(stalled);
    // A scraper that reads gets the whole scrape.
    let r = s.request("GET", "/metrics", &[("Accept", protobuf)], b"");
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 10_000_000, "{} bytes", r.body.len());
}
