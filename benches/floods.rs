//! What floods of hostile connections cost the clients that behave, against the real server
//! with its default flags: a client pushing small bodies, each on a new connection (a batch job
//! pushes once and exits), is timed before and during each attack (p50, p99, and how many
//! pushes were answered 200), and the server's peak resident memory is read after it.
//!
//! 1. 1,000 connections each sending a request head of 1,000,000 bytes, never finished.
//! 2. 40 connections each sending 60 MB of a 64,000,000-byte body, never finished.
//! 3. 10,000 connections that send nothing, filling the connection table.
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

use common::{memory_kib, start_pushgate};

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

fn memory_attack(label: &str, conns: usize, head: &str, filler: usize) {
    let (server, addr) = start_pushgate(&[]);
    let pid = server.0.id();
    thread::sleep(Duration::from_millis(200));
    measure_client("  no attack", addr);
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let stop = Arc::clone(&stop);
        let head = head.as_bytes().to_vec();
        thread::spawn(move || stall(addr, conns, head, filler, &stop))
    };
    thread::sleep(Duration::from_secs(2));
    measure_client(&format!("  {label}"), addr);
    stop.store(true, Ordering::SeqCst);
    let closed = attacker.join().expect("attacker");
    println!(
        "  peak RSS {} MiB; {closed} of {conns} attacking connections shed or closed",
        memory_kib(pid, "VmHWM") / 1024
    );
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

fn main() {
    if !common::benchmarking() {
        return;
    }
    println!("1,000 connections sending 1,000,000-byte heads, never finished:");
    memory_attack(
        "1,000 stalled heads",
        1000,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ",
        1_000_000 - 40,
    );
    println!("40 connections sending 60 MB of a 64,000,000-byte body, never finished:");
    memory_attack(
        "40 stalled bodies",
        40,
        "PUT /metrics/job/flood HTTP/1.1\r\nHost: x\r\nContent-Length: 64000000\r\n\r\n",
        60_000_000,
    );
    println!("10,000 connections that send nothing:");
    silent_attack(10_000);
}
