//! Build information for `pushgateway_build_info` and `/api/v1/status`, where upstream shows
//! its own: the git revision and branch when built from a checkout (empty otherwise), the
//! build date (`SOURCE_DATE_EPOCH` when set, for reproducible builds), who built it, and the
//! compiler's version where upstream shows Go's. Also gzips the web UI's script and style
//! sheet into `OUT_DIR`: the binary carries them compressed (20 KB less of a static binary
//! held to 2 MB), as most browsers take them.

// The date arithmetic the crate uses for its own timestamps.
#[path = "src/civil.rs"]
mod civil;
// gzip's checksum, for the web UI's assets (the log's CRC-32C goes unused here).
#[allow(dead_code)]
#[path = "src/crc.rs"]
mod crc;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
    };
    let revision = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"])
        .filter(|b| b != "HEAD")
        .unwrap_or_default();
    // A new commit or another branch checked out changes these; nothing else needs a rerun.
    // Only paths that exist: cargo reruns a build script whose watched path is missing on
    // every build (a checkout without packed refs has no `packed-refs`).
    for path in ["HEAD", "packed-refs", &format!("refs/heads/{branch}")] {
        let watched =
            git(&["rev-parse", "--git-path", path]).filter(|p| std::path::Path::new(p).exists());
        if let Some(p) = watched {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    let user = std::env::var("USER").unwrap_or_default();
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let user = match (user.as_str(), host.trim()) {
        ("", _) => String::new(),
        (u, "") => u.to_string(),
        (u, h) => format!("{u}@{h}"),
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(|n| format!("rustc{n}")))
        .unwrap_or_default();

    println!("cargo:rustc-env=PUSHGATE_REVISION={revision}");
    println!("cargo:rustc-env=PUSHGATE_BRANCH={branch}");
    println!(
        "cargo:rustc-env=PUSHGATE_BUILD_DATE={}",
        build_date(seconds)
    );
    println!("cargo:rustc-env=PUSHGATE_BUILD_USER={user}");
    println!("cargo:rustc-env=PUSHGATE_RUSTC_VERSION={version}");

    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    for asset in ["app.js", "style.css"] {
        let path = format!("src/web/ui/{asset}");
        println!("cargo:rerun-if-changed={path}");
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        std::fs::write(out.join(format!("{asset}.gz")), gzip(&text)).expect("write asset");
    }
}

/// `data` as one gzip member (RFC 1952), deflated at the highest level.
fn gzip(data: &[u8]) -> Vec<u8> {
    // Magic, deflate, no flags, no mtime, maximum compression, OS unknown.
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 10));
    out.extend_from_slice(&crc::crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// `YYYYMMDD-HH:MM:SS` in UTC, the form upstream's builds show.
fn build_date(seconds: u64) -> String {
    let rest = seconds % 86_400;
    let (year, month, day) = civil::civil_from_days((seconds / 86_400) as i64);
    format!(
        "{year:04}{month:02}{day:02}-{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
