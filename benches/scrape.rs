//! Scrapes over HTTP in every format Prometheus asks for, against the wire's ceiling: nginx
//! (one worker) serving the very same bytes as a static file to the same client.
//!
//! - 50,000 groups of 5 pushed series (250,000; 350,000 with the timestamp gauges): each
//!   format's median time and its ratio to nginx; gzip'd scrapes in MB/s of input, against
//!   `gzip -1` compressing the same bytes; resident memory per stored series.
//! - A pusher's latency alone and while another client scrapes all of that in a loop.
//! - Cost per MB of each format at 10,000, 100,000 and 1,000,000 series.
//!
//! Needs `nginx` and `gzip` on PATH for the comparisons (`make deps`). Run with
//! `cargo bench --bench scrape`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{fill, memory_kib, scratch, start_nginx, start_pushgate, Pusher};

/// 5 series.
const BODY: &str = "# TYPE batch_ok gauge\nbatch_ok 1\n# TYPE batch_records_total counter\n\
    batch_records_total{kind=\"a\"} 5\nbatch_records_total{kind=\"b\"} 2\n\
    # TYPE batch_seconds gauge\nbatch_seconds{step=\"x\"} 1.5\nbatch_seconds{step=\"y\"} 2.5\n";
const SERIES_PER_GROUP: usize = 5;

/// Name, `Accept` header (as Prometheus 2.42 sends it for the derived formats).
const FORMATS: [(&str, &str); 3] = [
    ("text", "text/plain;version=0.0.4"),
    (
        "OpenMetrics",
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
         text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ),
    (
        "protobuf",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,\
         application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.2",
    ),
];
const RUNS: usize = 10;

/// GETs `path` with `headers` on a new connection and reads to the end: the time that took
/// and the response, headers included. HTTP/1.1 as Prometheus asks (a streamed body comes in
/// chunks), or `HTTP/1.0` for the body as it is.
fn get_as(version: &str, addr: SocketAddr, path: &str, headers: &str) -> (Duration, Vec<u8>) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    let req = format!("GET {path} {version}\r\nHost: x\r\nConnection: close\r\n{headers}\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut out = Vec::with_capacity(32 << 20);
    s.read_to_end(&mut out).expect("read");
    let took = t.elapsed();
    assert_eq!(out.get(9..12), Some(&b"200"[..]), "GET {path}: not 200");
    (took, out)
}

fn get(addr: SocketAddr, path: &str, headers: &str) -> (Duration, Vec<u8>) {
    get_as("HTTP/1.1", addr, path, headers)
}

/// The body of a response to an `HTTP/1.0` request.
fn body(response: &[u8]) -> &[u8] {
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    &response[at + 4..]
}

/// The median of `RUNS` GETs, in milliseconds.
fn median_ms(addr: SocketAddr, path: &str, headers: &str) -> f64 {
    let mut times: Vec<Duration> = (0..RUNS).map(|_| get(addr, path, headers).0).collect();
    times.sort();
    times[RUNS / 2].as_secs_f64() * 1e3
}

fn accept(accept: &str) -> String {
    format!("Accept: {accept}\r\n")
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// The median time of `gzip -1` compressing `file` to nothing, in milliseconds.
fn gzip_ms(file: &Path) -> Option<f64> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let ok = Command::new("gzip")
            .arg("-1c")
            .arg(file)
            .stdout(Stdio::null())
            .status()
            .ok()?
            .success();
        times.push(t.elapsed());
        if !ok {
            return None;
        }
    }
    times.sort();
    Some(times[2].as_secs_f64() * 1e3)
}

/// Each format, then each gzip'd, against nginx serving the same bytes and against `gzip -1`.
fn against_the_wire(dir: &Path, addr: SocketAddr) {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("files dir");
    let mut plain = Vec::new();
    for (name, media) in FORMATS {
        let (_, response) = get_as("HTTP/1.0", addr, "/metrics", &accept(media));
        let bytes = body(&response).to_vec();
        std::fs::write(files.join(name), &bytes).expect("write file");
        plain.push((name, media, bytes.len()));
    }
    let nginx = start_nginx(dir, &format!("root {}; sendfile on;", files.display()));
    println!(
        "{:<12} {:>9} {:>12} {:>12} {:>6}",
        "format", "MB", "pushgate ms", "nginx ms", "ratio"
    );
    for &(name, media, len) in &plain {
        let ours = median_ms(addr, "/metrics", &accept(media));
        let theirs = nginx
            .as_ref()
            .map(|(_, a)| median_ms(*a, &format!("/{name}"), ""));
        match theirs {
            Some(t) => println!(
                "{name:<12} {:>9.1} {ours:>12.1} {t:>12.1} {:>6.2}",
                mb(len),
                ours / t
            ),
            None => println!("{name:<12} {:>9.1} {ours:>12.1}  (no nginx)", mb(len)),
        }
    }
    println!(
        "{:<12} {:>9} {:>12} {:>12} {:>10} {:>12}",
        "gzip'd", "MB in", "pushgate ms", "MB/s in", "gzip -1 ms", "gzip MB/s"
    );
    for &(name, media, len) in &plain {
        let headers = format!("{}Accept-Encoding: gzip\r\n", accept(media));
        let ours = median_ms(addr, "/metrics", &headers);
        let theirs = gzip_ms(&files.join(name));
        let rate = |ms: f64| mb(len) / (ms / 1e3);
        match theirs {
            Some(t) => println!(
                "{name:<12} {:>9.1} {ours:>12.1} {:>12.0} {t:>10.1} {:>12.0}",
                mb(len),
                rate(ours),
                rate(t)
            ),
            None => println!(
                "{name:<12} {:>9.1} {ours:>12.1} {:>12.0}  (no gzip)",
                mb(len),
                rate(ours)
            ),
        }
    }
}

/// Small PUTs on one keep-alive connection for `time`: each one's latency.
fn push_latencies(addr: SocketAddr, time: Duration) -> Vec<Duration> {
    let mut pusher = Pusher::connect(addr);
    let start = Instant::now();
    let mut out = Vec::new();
    while start.elapsed() < time {
        let path = format!("/metrics/job/latency/instance/i{}", out.len() % 1000);
        let t = Instant::now();
        pusher.put(&path, BODY);
        out.push(t.elapsed());
    }
    out
}

fn summary(mut lat: Vec<Duration>) -> String {
    lat.sort();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    format!(
        "{} pushes, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        lat.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// A pusher's latency alone, then while another client scrapes in a loop (every format in
/// turn).
fn pushes_during_scrapes(addr: SocketAddr) {
    let time = Duration::from_secs(3);
    println!(
        "pushes alone:                {}",
        summary(push_latencies(addr, time))
    );
    let stop = AtomicBool::new(false);
    let (lat, scrapes) = std::thread::scope(|s| {
        let scraper = s.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                get(addr, "/metrics", &accept(FORMATS[n % FORMATS.len()].1));
                n += 1;
            }
            n
        });
        let lat = push_latencies(addr, time);
        stop.store(true, Ordering::Relaxed);
        (lat, scraper.join().expect("scraper"))
    });
    println!("pushes during {scrapes} scrapes: {}", summary(lat));
}

/// Milliseconds per MB of each format at 10,000 to 1,000,000 series.
fn cost_per_mb() {
    println!(
        "{:>10} {:>14} {:>14} {:>14}",
        "series", "text ms/MB", "OpenMetrics", "protobuf"
    );
    for series in [10_000, 100_000, 1_000_000] {
        let (_server, addr) = start_pushgate(&[]);
        fill(addr, series / SERIES_PER_GROUP, BODY);
        let per_mb: Vec<String> = FORMATS
            .iter()
            .map(|(_, media)| {
                let len = body(&get_as("HTTP/1.0", addr, "/metrics", &accept(media)).1).len();
                format!(
                    "{:>14.2}",
                    median_ms(addr, "/metrics", &accept(media)) / mb(len)
                )
            })
            .collect();
        println!("{series:>10} {}", per_mb.join(" "));
    }
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    let dir = scratch("scrape");
    let groups = 50_000;
    let (server, addr) = start_pushgate(&[]);
    let pid = server.0.id();
    std::thread::sleep(Duration::from_millis(200));
    let idle = memory_kib(pid, "VmRSS");
    fill(addr, groups, BODY);
    let grown = (memory_kib(pid, "VmRSS") - idle) as f64 * 1024.0;
    let pushed = groups * SERIES_PER_GROUP;
    let stored = groups * (SERIES_PER_GROUP + 2);
    println!(
        "{groups} groups, {pushed} pushed series ({stored} with the timestamps): RSS grew {:.1} MB, \
         {:.0} bytes per stored series ({:.0} per pushed)",
        grown / 1e6,
        grown / stored as f64,
        grown / pushed as f64
    );
    against_the_wire(&dir, addr);
    pushes_during_scrapes(addr);
    drop(server);
    cost_per_mb();
    let _ = std::fs::remove_dir_all(&dir);
}
