//! Helpers every benchmark binary shares.

// Each bench binary compiles its own copy and uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
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
