//! What floods of hostile connections cost the clients that behave, against the real server
//! with its default flags: a client pushing small bodies, each on a new connection (a batch job
//! pushes once and exits), is timed before and during each attack (p50, p99, and how many
//! pushes were answered 200), and the server's peak resident memory is read after it.
//!
//! 1. 1,000 connections each sending a request head of 1,000,000 bytes, never finished.
//! 2. 40 connections each sending 60 MB of a 64,000,000-byte body, never finished.
//! 3. 10,000 connections that send nothing, filling the connection table.
//! 4. One connection pipelining small pushes back-to-back, as fast as the socket takes them,
//!    never reading an answer; and the same reading its answers as fast as they come.
//! 5. 40 connections asking for the scrape of 50,000 groups (25 MB of text, 21 MB of
//!    protobuf) and never reading it, in text and in protobuf.
//!
//! Each attack gets a fresh server. `PUSHGATE_BIN=<path>` measures another build the same way.
//! The behaviour itself is tested in `tests/floods.rs`. Run with `cargo bench --bench floods`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{memory_kib, start_pushgate, Pusher};

/// How long the client that behaves is timed during each attack, after it has begun.
const MEASURE: Duration = Duration::from_secs(8);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One push on a new connection; its status (0 when the exchange failed) and how long it took.
fn push(addr: SocketAddr, i: usize) -> (u16, Duration) {
    let t = Instant::now();
    let body = "calm_pushes 1\n";
    let exchange = || -> std::io::Result<u16> {
        let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.write_all(
            format!(
                "PUT /metrics/job/calm/instance/i{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                i % 100,
                body.len()
            )
            .as_bytes(),
        )?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)?;
        Ok(std::str::from_utf8(answer.get(9..12).unwrap_or_default())
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    };
    (exchange().unwrap_or(0), t.elapsed())
}

/// Pushes for `MEASURE`; prints the count, the share answered 200 and the latencies.
fn measure_client(label: &str, addr: SocketAddr) {
    let until = Instant::now() + MEASURE;
    let mut times = Vec::new();
    let mut ok = 0;
    while Instant::now() < until {
        let (status, took) = push(addr, times.len());
        ok += usize::from(status == 200);
        times.push(took);
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "{label}: {} pushes, {:.2}% answered 200, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        times.len(),
        100.0 * ok as f64 / times.len() as f64,
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

/// Connections sending `head` and then `filler` bytes, never finishing, as fast as the server
/// (and the kernel's buffers) take them, until `stop`. Returns how many the server shed or
/// closed by then.
fn stall(addr: SocketAddr, n: usize, head: Vec<u8>, filler: usize, stop: &AtomicBool) -> usize {
    let chunk = vec![b'a'; 256 << 10];
    let total = head.len() + filler;
    let mut conns: Vec<(TcpStream, usize)> = (0..n)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            (s, 0)
        })
        .collect();
    while !stop.load(Ordering::SeqCst) {
        let mut progress = false;
        for (s, sent) in conns.iter_mut().filter(|(_, sent)| *sent < total) {
            let piece = if *sent < head.len() {
                &head[*sent..]
            } else {
                &chunk[..chunk.len().min(total - *sent)]
            };
            match s.write(piece) {
                Ok(k) => {
                    *sent += k;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => *sent = total,
            }
        }
        if !progress {
            thread::sleep(Duration::from_millis(5));
        }
    }
    // Anything to read (an answer, the end, a reset) means the server is done with it.
    let still_open = |s: &TcpStream| {
        let mut byte = [0u8; 1];
        matches!((&*s).read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock)
    };
    conns.iter().filter(|(s, _)| !still_open(s)).count()
}

/// Starts a server, measures the client without an attack, then runs `attack` (which goes on
/// until its flag is set) for 2 s and measures the client again under `label`. Returns the
/// attacker's result and the server's peak RSS in MiB.
fn under_attack<R: Send + 'static>(
    label: &str,
    attack: impl FnOnce(SocketAddr, &Arc<AtomicBool>) -> R + Send + 'static,
) -> (R, u64) {
    let (server, addr) = start_pushgate(&[]);
    let pid = server.0.id();
    thread::sleep(Duration::from_millis(200));
    measure_client("  no attack", addr);
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || attack(addr, &stop))
    };
    thread::sleep(Duration::from_secs(2));
    measure_client(&format!("  {label}"), addr);
    stop.store(true, Ordering::SeqCst);
    let result = attacker.join().expect("attacker");
    (result, memory_kib(pid, "VmHWM") / 1024)
}

fn memory_attack(label: &str, conns: usize, head: &str, filler: usize) {
    let head = head.as_bytes().to_vec();
    let (closed, peak) = under_attack(label, move |addr, stop| {
        stall(addr, conns, head, filler, stop)
    });
    println!("  peak RSS {peak} MiB; {closed} of {conns} attacking connections shed or closed");
}

fn silent_attack(conns: usize) {
    let (server, addr) = start_pushgate(&[]);
    let pid = server.0.id();
    thread::sleep(Duration::from_millis(200));
    let silent: Vec<TcpStream> = (0..conns)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    thread::sleep(Duration::from_millis(500));
    measure_client(&format!("  {} silent connections", silent.len()), addr);
    println!("  peak RSS {} MiB", memory_kib(pid, "VmHWM") / 1024);
}

/// The pushes of the pipelining attacker, 100 groups in turn, back to back.
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

/// Writes pipelined pushes on one connection as fast as it takes them until `stop`; with
/// `read`, another thread reads the answers as fast as they come. Returns the pushes written
/// and the answers 200 read.
fn pipeline(addr: SocketAddr, read: bool, stop: &Arc<AtomicBool>) -> (usize, usize) {
    let batch = pipelined_pushes();
    let s = TcpStream::connect(addr).expect("connect");
    let reader = read.then(|| {
        let mut r = s.try_clone().expect("clone");
        let stop = Arc::clone(stop);
        thread::spawn(move || {
            r.set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            let mut buf = vec![0u8; 256 << 10];
            // Answers counted by their status line, across reads.
            let mut tail = Vec::new();
            let mut ok = 0;
            while !stop.load(Ordering::SeqCst) {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        tail.extend_from_slice(&buf[..n]);
                        ok += tail.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
                        let keep = tail.len().min(11);
                        tail.drain(..tail.len() - keep);
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
            ok
        })
    });
    s.set_nonblocking(true).expect("nonblocking");
    let mut written = 0;
    while !stop.load(Ordering::SeqCst) {
        let at = written % batch.len();
        match (&s).write(&batch[at..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(1)),
            Err(_) => break,
        }
    }
    let answered = reader.map_or(0, |r| r.join().expect("reader"));
    (written * 100 / batch.len(), answered)
}

fn pipeline_attack(read: bool) {
    let label = if read {
        "answers read"
    } else {
        "answers never read"
    };
    let ((written, answered), peak) =
        under_attack(&format!("pipelined pushes, {label}"), move |addr, stop| {
            pipeline(addr, read, stop)
        });
    println!(
        "  peak RSS {peak} MiB; the attacker wrote {written} pushes in 10 s{}",
        if read {
            format!(", {answered} answered 200")
        } else {
            String::new()
        }
    );
}

/// Stores `groups` groups of 5 series each, over one keep-alive connection.
fn fill_store(addr: SocketAddr, groups: usize) {
    let mut pusher = Pusher::connect(addr);
    for g in 0..groups {
        let mut body = String::from("# TYPE flood_bytes gauge\n");
        for disk in ["sda", "sdb", "sdc", "sdd", "sde"] {
            body.push_str(&format!(
                "flood_bytes{{disk=\"{disk}\"}} {}\n",
                g * 1_000_003
            ));
        }
        pusher.put(&format!("/metrics/job/big/instance/host-{g:06}"), &body);
    }
}

fn scrape_attack(conns: usize, groups: usize, accept: &str, label: &str) {
    let (server, addr) = start_pushgate(&[]);
    let pid = server.0.id();
    fill_store(addr, groups);
    let size = {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(
            format!(
                "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("scrape");
        let mut all = Vec::new();
        s.read_to_end(&mut all).expect("read the scrape");
        all.len()
    };
    let before = memory_kib(pid, "VmRSS");
    measure_client("  no attack", addr);
    let stalled: Vec<TcpStream> = (0..conns)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(
                format!("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n").as_bytes(),
            )
            .expect("ask");
            s
        })
        .collect();
    thread::sleep(Duration::from_secs(2));
    measure_client(&format!("  {conns} {label} scrapes never read"), addr);
    println!(
        "  scrape of {:.1} MB; RSS {} MiB before, peak {} MiB",
        size as f64 / 1e6,
        before / 1024,
        memory_kib(pid, "VmHWM") / 1024
    );
    drop(stalled);
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    // `cargo bench --bench floods -- scrape` runs the attacks whose name holds `scrape`.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    if run("heads") {
        println!("1,000 connections sending 1,000,000-byte heads, never finished:");
        memory_attack(
            "1,000 stalled heads",
            1000,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ",
            1_000_000 - 40,
        );
    }
    if run("bodies") {
        println!("40 connections sending 60 MB of a 64,000,000-byte body, never finished:");
        memory_attack(
            "40 stalled bodies",
            40,
            "PUT /metrics/job/flood HTTP/1.1\r\nHost: x\r\nContent-Length: 64000000\r\n\r\n",
            60_000_000,
        );
    }
    if run("silent") {
        println!("10,000 connections that send nothing:");
        silent_attack(10_000);
    }
    if run("pipeline-unread") {
        println!("One connection pipelining pushes, never reading the answers:");
        pipeline_attack(false);
    }
    if run("pipeline-read") {
        println!("One connection pipelining pushes, reading the answers:");
        pipeline_attack(true);
    }
    let protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                    encoding=delimited";
    if run("scrape-text") {
        println!("40 connections asking for the text scrape of 50,000 groups, never reading:");
        scrape_attack(40, 50_000, "text/plain", "text");
    }
    if run("scrape-protobuf") {
        println!("40 connections asking for the protobuf scrape of 50,000 groups, never reading:");
        scrape_attack(40, 50_000, protobuf, "protobuf");
    }
}
