//! Build information for `pushgateway_build_info` and `/api/v1/status`, where upstream shows
//! its own: the git revision and branch when built from a checkout (empty otherwise), the
//! build date (`SOURCE_DATE_EPOCH` when set, for reproducible builds), who built it, and the
//! compiler's version where upstream shows Go's.

// The date arithmetic the crate uses for its own timestamps.
#[path = "src/civil.rs"]
mod civil;

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
