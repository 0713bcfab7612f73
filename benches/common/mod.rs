//! Helpers every benchmark binary shares.

// Each bench binary compiles its own copy and uses only part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

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
