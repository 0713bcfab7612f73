//! Helpers every benchmark binary shares.

// Each bench binary compiles its own copy and uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed on drop, so a failing bench leaves no server behind.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the release `pushgate` (or `$PUSHGATE_BIN`, to measure another build the same way)
/// on a free loopback port with `args`; returns it with its address.
pub fn start_pushgate(args: &[&str]) -> (Killed, SocketAddr) {
    let program =
        std::env::var_os("PUSHGATE_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_pushgate").into());
    // The address is read from the `listening` log line, so the log stays at info level.
    let mut child = Command::new(program)
        .arg("--web.listen-address=127.0.0.1:0")
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pushgate");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("pushgate exited").expect("read stderr");
        if let Some(a) = line.split("address=").nth(1) {
            break a.trim().parse().expect("address");
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), addr)
}

/// A field of `/proc/<pid>/status` in KiB: `VmRSS`, or `VmHWM` for the peak.
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Whether this run should measure: `cargo test --all-targets` runs bench binaries too, and
/// only `cargo bench` passes `--bench`.
pub fn benchmarking() -> bool {
    let yes = std::env::args().any(|a| a == "--bench");
    if !yes {
        println!("benchmarks run with `cargo bench`");
    }
    yes
}

/// Runs `f` repeatedly for about `budget` and returns (iterations, elapsed).
pub fn measure(budget: Duration, mut f: impl FnMut()) -> (u64, Duration) {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    (n, start.elapsed())
}

/// A fresh directory of this bench run's own under the system's temporary directory.
pub fn scratch(bench: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pushgate-bench-{bench}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// nginx with one worker on a free loopback port, answering every path with `location`'s
/// directives (`return 200;`, `root /some/dir;`); `None` where nginx is not installed.
pub fn start_nginx(dir: &Path, location: &str) -> Option<(Killed, SocketAddr)> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let port = free_port();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d};\n\
             fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
             keepalive_requests 100000000;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ {location} }} }} }}\n",
            d = dir.display()
        ),
    )
    .ok()?;
    let child = Command::new(nginx)
        .args(["-c", conf.to_str()?, "-p", dir.to_str()?])
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    for _ in 0..100 {
        if TcpStream::connect(addr).is_ok() {
            return Some((Killed(child), addr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// One request on a new connection, closed after it: the status and the whole response.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let status = std::str::from_utf8(&out[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, out)
}

/// A keep-alive connection that PUTs bodies and reads each answer's head.
pub struct Pusher {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    line: String,
}

impl Pusher {
    pub fn connect(addr: SocketAddr) -> Pusher {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Pusher {
            stream,
            reader,
            line: String::new(),
        }
    }

    /// PUTs `body` to `path`; panics unless the answer is 200 (the answers have no body).
    pub fn put(&mut self, path: &str, body: &str) {
        let req = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.write_all(req.as_bytes()).expect("send");
        self.line.clear();
        self.reader.read_line(&mut self.line).expect("status");
        assert!(
            self.line.starts_with("HTTP/1.1 200"),
            "push failed: {}",
            self.line
        );
        loop {
            self.line.clear();
            self.reader.read_line(&mut self.line).expect("header");
            if self.line == "\r\n" {
                break;
            }
        }
    }
}

/// PUTs `body` into `groups` groups (`/metrics/job/bench/instance/i<n>`) on one keep-alive
/// connection.
pub fn fill(addr: SocketAddr, groups: usize, body: &str) {
    let mut pusher = Pusher::connect(addr);
    for i in 0..groups {
        pusher.put(&format!("/metrics/job/bench/instance/i{i}"), body);
    }
}
