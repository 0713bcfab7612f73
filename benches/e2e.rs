//! End-to-end benchmarks over real sockets: small pushes into 10,000 groups with wrk (16
//! keep-alive connections, one wrk thread), measured side by side with nginx answering an
//! empty 200 to the same requests (the practical ceiling on this machine), then scrapes of
//! 250,000 series over HTTP and the server's resident memory.
//!
//! Needs `wrk` (and `nginx` for the ceiling) on PATH; `make deps` installs both. Run with
//! `cargo bench --bench e2e`.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{fill, http, memory_kib, scratch, start_nginx, start_pushgate};

const GROUPS: usize = 10_000;
const BODY: &str = "# TYPE batch_ok gauge\nbatch_ok 1\n# TYPE batch_records_total counter\n\
    batch_records_total{kind=\"a\"} 5\nbatch_records_total{kind=\"b\"} 2\n\
    # TYPE batch_seconds gauge\nbatch_seconds{step=\"x\"} 1.5\nbatch_seconds{step=\"y\"} 2.5\n";

fn wrk(dir: &Path, addr: SocketAddr) -> Option<String> {
    let script = dir.join("push.lua");
    std::fs::write(
        &script,
        format!(
            "local body = {BODY:?}\nlocal reqs = {{}}\nfor i = 0, {n} do\n\
             reqs[i] = wrk.format(\"PUT\", \"/metrics/job/bench/instance/i\" .. i, {{Host = \"localhost\"}}, body)\nend\n\
             local n = 0\nrequest = function()\n  n = n + 1\n  return reqs[n % {GROUPS}]\nend\n",
            n = GROUPS - 1
        ),
    )
    .ok()?;
    let out = Command::new("wrk")
        .args(["-t1", "-c16", "-d5s", "--latency", "-s"])
        .arg(&script)
        .arg(format!("http://{addr}"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rate = text
        .lines()
        .find(|l| l.starts_with("Requests/sec"))?
        .to_string();
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .unwrap_or("")
        .trim()
        .to_string();
    Some(format!(
        "{rate}  (p99 {})",
        p99.trim_start_matches("99%").trim()
    ))
}

fn main() {
    if !common::benchmarking() {
        return;
    }
    let dir = scratch("e2e");
    let (server, addr) = start_pushgate(&[]);
    let pid = server.0.id();
    std::thread::sleep(Duration::from_millis(200));
    let idle = memory_kib(pid, "VmRSS");
    println!("idle RSS: {idle} KiB");
    fill(addr, GROUPS, BODY);
    let filled = memory_kib(pid, "VmRSS");
    let series = GROUPS * 7;
    println!(
        "RSS after {GROUPS} groups ({series} series incl. timestamps): {filled} KiB, {:.0} bytes/series",
        (filled - idle) as f64 * 1024.0 / series as f64
    );
    match wrk(&dir, addr) {
        Some(r) => println!("pushgate, small PUTs into {GROUPS} groups: {r}"),
        None => println!("wrk not found: push throughput skipped (make deps installs it)"),
    }
    match start_nginx(&dir, "return 200;").and_then(|(n, a)| Some((n, wrk(&dir, a)?))) {
        Some((_nginx, r)) => println!("nginx empty 200, same requests:        {r}"),
        None => println!("nginx or wrk not found: ceiling skipped"),
    }
    drop(server);

    let (server, addr) = start_pushgate(&[]);
    let big = 250_000 / 7;
    fill(addr, big, BODY);
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..10 {
        let t = Instant::now();
        let (status, body) = http(addr, "GET", "/metrics", "");
        times.push(t.elapsed());
        assert_eq!(status, 200);
        bytes = body.len();
    }
    times.sort();
    println!(
        "scrape of {} series over HTTP ({} bytes): median {:.1} ms, min {:.1} ms; RSS {} KiB",
        big * 7,
        bytes,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        memory_kib(server.0.id(), "VmRSS")
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
